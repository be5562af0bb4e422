import ClusterHarness
import Foundation
import HTTPTypes
import Testing

/// Every secret (a conninfo's password, Redis's) can come from a file instead of a flag or the
/// environment, and shows up in no log line, error, /metrics or health answer.
@Suite(Cluster.needed) struct SecretFileTests {
    /// The settings that carry a password, as `infra/cluster env` exports them.
    static let secretVariables = [
        "CATALOG_PRIMARY", "CATALOG_QUERY_PRIMARY", "CATALOG_REPLICAS", "CATALOG_REDIS", "CATALOG_COMMAND_REDIS", "CATALOG_QUERY_REDIS",
        "CATALOG_PROJECTOR_PRIMARY",
    ]

    /// The cluster's environment with every secret moved into a file of its own (0600), named by `_FILE`.
    static func environmentWithSecretFiles() throws -> (environment: [String: String], passwords: [String], directory: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("secrets-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var environment = try Cluster.environment()
        var passwords: [String] = []
        for variable in secretVariables {
            let value = try #require(environment[variable], "\(variable) is not set")
            environment[variable] = nil
            let file = directory.appendingPathComponent(variable).path
            // With the line break an editor or `echo` leaves at the end.
            #expect(FileManager.default.createFile(atPath: file, contents: Data((value + "\n").utf8), attributes: [.posixPermissions: 0o600]))
            environment[variable + "_FILE"] = file
            passwords += Self.passwords(in: value)
        }
        return (environment, Array(Set(passwords)), directory)
    }

    /// The passwords in a conninfo (`password=...`) or a Redis URL (`redis://:...@`).
    static func passwords(in value: String) -> [String] {
        var found: [String] = []
        for part in value.split(whereSeparator: { $0 == " " || $0 == "," }) where part.hasPrefix("password=") {
            found.append(String(part.dropFirst("password=".count)))
        }
        if let url = URLComponents(string: value), let password = url.password, !password.isEmpty { found.append(password) }
        return found.filter { $0.count >= 8 }
    }

    @Test func theServicesTakeEverySecretFromAFileAndShowItNowhere() async throws {
        try await migrateCatalog()
        let (environment, passwords, directory) = try Self.environmentWithSecretFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(passwords.count >= 3, "the cluster's conninfos carry passwords: \(passwords.count)")
        for (name, addressVariable) in [("command-api", "CATALOG_COMMAND_ADDR"), ("query-api", "CATALOG_QUERY_ADDR")] {
            let port = try freePort()
            let process = try BackgroundProcess(
                try Cluster.executable(name),
                arguments: [],
                environment: environment.merging([addressVariable: "127.0.0.1:\(port)", "LOG_LEVEL": "debug"]) { $1 },
                inherit: false,
                logPath: Cluster.repositoryRoot.appendingPathComponent(".build/secret-files-\(name)-\(UUID().uuidString.prefix(8)).log").path
            )
            defer { process.signal(SIGKILL) }
            try await waitUntilLive(port: port, process)
            let ready = try await within(.seconds(30)) { (try? await request(port: port, .get, "/health/ready"))?.status == 200 }
            #expect(ready, "\(name) is not ready with its secrets from files: \(process.output)")
            var answers = process.output
            for path in ["/health/ready", "/health/live", "/metrics", "/openapi.json", "/albums/not-an-id"] {
                answers += try await request(port: port, .get, path).body
            }
            if name == "command-api" {
                let created = try await request(
                    port: port,
                    .post,
                    "/albums",
                    body: kindOfBlue,
                    headers: [.authorization: "Bearer \(try Cluster.value("CATALOG_TOKEN"))", .contentType: "application/json"]
                )
                #expect(created.status == 201, "\(created.body)")
            }
            for password in passwords {
                #expect(!answers.contains(password), "\(name) shows a password")
            }
        }
        let status = try ChildProcess.run(
            try Cluster.executable("projections"),
            arguments: ["status"],
            environment: environment.map { "\($0.key)=\($0.value)" }
        )
        #expect(status.status == 0, "\(status.output)")
        for password in passwords { #expect(!status.output.contains(password)) }
    }

    @Test func aSecretGivenTwiceOrAFileThatCannotBeReadIsAUsageErrorThatShowsNoContent() async throws {
        let (environment, passwords, directory) = try Self.environmentWithSecretFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        let primaryFile = try #require(environment["CATALOG_PRIMARY_FILE"])
        let primary = try Cluster.value("CATALOG_PRIMARY")
        let empty = directory.appendingPathComponent("empty").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data("\n".utf8)))
        let cases: [(arguments: [String], environment: [String: String], expected: String)] = [
            (["--primary", primary, "--primary-file", primaryFile], [:], "give --primary or --primary-file, not both"),
            (["--primary-file", directory.appendingPathComponent("missing").path], [:], "cannot read the file --primary-file names"),
            ([], ["CATALOG_PRIMARY_FILE": directory.appendingPathComponent("missing").path], "cannot read the file CATALOG_PRIMARY_FILE names"),
            ([], ["CATALOG_PRIMARY_FILE": empty], "is empty"),
        ]
        for (arguments, extra, expected) in cases {
            let run = try ChildProcess.run(
                try Cluster.executable("command-api"),
                arguments: arguments + ["--address", "127.0.0.1:\(try freePort())"],
                environment: environment.merging(extra) { $1 }.map { "\($0.key)=\($0.value)" }
            )
            #expect(run.status == 2, "\(arguments) \(extra): \(run.output)")
            #expect(run.output.contains(expected), "\(run.output)")
            for password in passwords { #expect(!run.output.contains(password), "\(run.output)") }
        }
    }
}

/// The services start only with links that verify TLS, unless told `--plaintext-loopback`, and then only
/// to this machine.
@Suite(Cluster.needed) struct PlaintextStartupTests {
    @Test func aPlaintextLinkIsAUsageErrorUnlessAllowedOnLoopback() async throws {
        let environment = try Cluster.environment()
        let primary = try #require(environment["CATALOG_PRIMARY"])
        let plain = primary.replacingOccurrences(of: "sslmode=verify-full", with: "sslmode=disable")
        let redis = try #require(environment["CATALOG_COMMAND_REDIS"])
        let plainRedis = String(redis.replacingOccurrences(of: "rediss://", with: "redis://").prefix { $0 != "?" })
        let cases: [(variables: [String: String], arguments: [String], status: Int32?, expected: String)] = [
            (["CATALOG_PRIMARY": plain], [], 2, "--primary is not TLS that verifies the server"),
            (["CATALOG_COMMAND_REDIS": plainRedis], [], 2, "--redis is not TLS"),
            (["CATALOG_COMMAND_REDIS": "redis://host:99999"], [], 2, "--redis: "),
            (
                ["CATALOG_PRIMARY": plain.replacingOccurrences(of: "host=127.0.0.1,127.0.0.1,127.0.0.1", with: "host=10.255.0.1")],
                ["--plaintext-loopback"], 2, "leaves this machine"
            ),
            (["CATALOG_PRIMARY": plain], ["--plaintext-loopback"], nil, ""),
        ]
        for (variables, arguments, status, expected) in cases {
            let port = try freePort()
            let process = try BackgroundProcess(
                try Cluster.executable("command-api"),
                arguments: arguments + ["--address", "127.0.0.1:\(port)"],
                environment: environment.merging(variables) { $1 },
                inherit: false,
                logPath: Cluster.repositoryRoot.appendingPathComponent(".build/plaintext-\(UUID().uuidString.prefix(8)).log").path
            )
            if let status {
                #expect(await exitStatus(of: process, within: .seconds(20)) == status, "\(arguments) \(variables.keys): \(process.output)")
                #expect(process.output.contains(expected), "\(process.output)")
                #expect(!process.output.contains("password="), "\(process.output)")
            } else {
                // Allowed on loopback: it starts; the local cluster itself still refuses plaintext.
                defer { process.signal(SIGKILL) }
                try await waitUntilLive(port: port, process)
            }
        }
    }
}
