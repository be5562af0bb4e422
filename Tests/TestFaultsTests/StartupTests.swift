import ClusterHarness
import Foundation
import Testing

/// A service given CATALOG_TEST_FAULT refuses to start unless CATALOG_ALLOW_TEST_FAULTS=1 is set and every
/// name is known; allowed, it starts and says loudly what it breaks.
@Suite(Cluster.needed) struct TestFaultStartupTests {
    /// Each service with fault points, with one of its faults and what it needs to get as far as listening.
    static func services() throws -> [(name: String, arguments: [String], fault: String, environment: [String: String])] {
        [
            ("command-api", [], "relay-drops-fences", ["CATALOG_COMMAND_ADDR": "127.0.0.1:\(try freePort())"]),
            ("query-api", [], "fill-skips-fence", ["CATALOG_QUERY_ADDR": "127.0.0.1:\(try freePort())"]),
            ("projections", ["run"], "projector-skips-event", [:]),
        ]
    }

    @Test func withoutTheAllowVariableEveryServiceRefusesToStart() async throws {
        #expect(ProcessInfo.processInfo.environment["CATALOG_ALLOW_TEST_FAULTS"] == nil)
        for service in try Self.services() {
            for allow in [nil, "0", "true"] as [String?] {
                var environment = service.environment
                environment["CATALOG_TEST_FAULT"] = service.fault
                if let allow { environment["CATALOG_ALLOW_TEST_FAULTS"] = allow }
                let process = try startService(service.name, arguments: service.arguments, environment: environment)
                let status = await exitStatus(of: process, within: .seconds(20))
                #expect(status == 2, "\(service.name) with \(allow ?? "no allow variable"): \(process.output)")
                #expect(process.output.contains("refusing to start"), "\(process.output)")
                #expect(process.output.contains("CATALOG_TEST_FAULT=\(service.fault)"), "\(process.output)")
                #expect(process.output.contains("CATALOG_ALLOW_TEST_FAULTS=1"), "\(process.output)")
            }
        }
    }

    @Test func anUnknownFaultIsRefusedEvenWhenAllowed() async throws {
        for service in try Self.services() {
            var environment = service.environment
            environment["CATALOG_TEST_FAULT"] = "\(service.fault),drop-everything"
            environment["CATALOG_ALLOW_TEST_FAULTS"] = "1"
            let process = try startService(service.name, arguments: service.arguments, environment: environment)
            let status = await exitStatus(of: process, within: .seconds(20))
            #expect(status == 2, "\(service.name): \(process.output)")
            #expect(process.output.contains("refusing to start"), "\(process.output)")
            #expect(process.output.contains("CATALOG_TEST_FAULT names unknown test faults: drop-everything"), "\(process.output)")
        }
    }

    /// Allowed, command-api and query-api start, listen, and log one critical line naming their faults;
    /// a fault of another service is accepted and named as having no fault point there.
    @Test func allowedTheHTTPServicesStartAndSayWhatTheyBreak() async throws {
        let cases: [(name: String, faults: String, address: String, expected: String)] = [
            ("command-api", "relay-drops-fences,kill-after-commit", "CATALOG_COMMAND_ADDR", "kill-after-commit, relay-drops-fences;"),
            (
                "query-api", "router-ignores-tokens,fill-skips-fence,ack-before-commit", "CATALOG_QUERY_ADDR",
                "fill-skips-fence, router-ignores-tokens;"
            ),
        ]
        for service in cases {
            let port = try freePort()
            let process = try startService(
                service.name,
                environment: [service.address: "127.0.0.1:\(port)", "CATALOG_TEST_FAULT": service.faults, "CATALOG_ALLOW_TEST_FAULTS": "1"]
            )
            defer { process.signal(SIGKILL) }
            try await waitUntilLive(port: port, process)
            let lines = process.output.split(separator: "\n").filter { $0.contains("TEST FAULTS ACTIVE") }
            #expect(lines.count == 1, "\(process.output)")
            let line = String(lines.first ?? "")
            #expect(line.contains("critical"), "\(line)")
            #expect(line.contains("CATALOG_TEST_FAULT): \(service.expected)"), "\(line)")
            #expect(line.contains("this process breaks a guarantee on purpose"), "\(line)")
            if service.name == "query-api" { #expect(line.contains("no fault point here for: ack-before-commit"), "\(line)") }
        }
    }

    /// Allowed, `projections run` starts (on a scratch database: the fault would spoil the shared read
    /// model), leads, and logs the line.
    @Test func allowedTheProjectorStartsAndSaysWhatItBreaks() async throws {
        let database = try await migratedScratchDatabase("faultstart")
        do {
            let process = try startService(
                "projections",
                arguments: ["run"],
                environment: try database.environment().merging(["CATALOG_TEST_FAULT": "projector-skips-event", "CATALOG_ALLOW_TEST_FAULTS": "1"]) {
                    $1
                }
            )
            defer { process.signal(SIGKILL) }
            let leading = try await within(.seconds(30)) { process.output.contains("leading") }
            #expect(leading, "\(process.output)")
            let lines = process.output.split(separator: "\n").filter { $0.contains("TEST FAULTS ACTIVE") }
            #expect(lines.count == 1, "\(process.output)")
            #expect(lines.first?.contains("critical") == true)
            #expect(lines.first?.contains("projector-skips-event; this process breaks a guarantee on purpose") == true, "\(process.output)")
        } catch {
            await database.drop()
            throw error
        }
        await database.drop()
    }
}
