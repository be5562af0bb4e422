import ClusterHarness
import Foundation
import Postgres
import Redis
import Testing

/// Every PostgreSQL link is TLS, verified against the cluster's CA and the node's name: a plaintext
/// connection is refused by every node, for every role; a client that trusts another CA or expects
/// another name cannot connect; replication runs over TLS.
@Suite(Cluster.needed) struct PostgresTLSTests {
    static let nodes = ["primary", "replica1", "replica2"]

    static func psql(_ conninfo: String, _ sql: String = "SELECT 1") async throws -> (status: Int32, output: String) {
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let result: (status: Int32, output: String) = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Result {
                        try ChildProcess.run("/usr/bin/psql", arguments: [conninfo, "-X", "-q", "-A", "-t", "-c", sql], environment: environment)
                    }
                )
            }
        }
        return (result.status, result.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// `conninfo` with its `key=value` replaced (or added).
    static func with(_ conninfo: String, _ key: String, _ value: String) -> String {
        conninfo.split(separator: " ").filter { !$0.hasPrefix(key + "=") }.joined(separator: " ") + " \(key)=\(value)"
    }

    @Test func everyNodeRefusesAPlaintextConnectionForEveryRole() async throws {
        for node in Self.nodes {
            let admin = try Cluster.admin(node)
            let verified = try await Self.psql(admin)
            #expect(verified.status == 0, "\(node): \(verified.output)")
            for mode in ["disable", "allow"] {
                let plain = try await Self.psql(Self.with(admin, "sslmode", mode), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                if mode == "disable" {
                    #expect(plain.status != 0, "\(node) accepted a plaintext connection")
                    #expect(plain.output.contains("no encryption"), "\(plain.output)")
                } else {
                    // "allow" tries plaintext first: refused, it falls back to TLS.
                    #expect(plain.output == "t", "\(node): \(plain.output)")
                }
            }
            let rules = try await Self.psql(admin, "SELECT DISTINCT type FROM pg_hba_file_rules")
            #expect(rules.output == "hostssl", "\(node) has a rule that is not hostssl: \(rules.output)")
        }
        for variable in ["CATALOG_PRIMARY", "CATALOG_QUERY_PRIMARY", "CATALOG_PROJECTOR_PRIMARY", "CATALOG_MIGRATOR_PRIMARY"] {
            let conninfo = try Cluster.value(variable)
            #expect(conninfo.contains("sslmode=verify-full"), "\(variable)")
            let plain = try await Self.psql(Self.with(conninfo, "sslmode", "disable"))
            #expect(plain.status != 0 && plain.output.contains("no encryption"), "\(variable): \(plain.output)")
        }
    }

    @Test func aClientTrustingAnotherCAOrExpectingAnotherNameCannotConnect() async throws {
        let another = try AnotherCA()
        defer { another.remove() }
        let conninfo = try Cluster.value("CATALOG_PRIMARY")
        let otherCA = Self.with(conninfo, "sslrootcert", another.certificate)
        let refused = try await Self.psql(otherCA)
        #expect(refused.status != 0 && refused.output.contains("certificate verify failed"), "\(refused.output)")
        // The catalog's own client, libpq underneath, verifies the same way.
        var configuration = PostgresClient.Configuration(connectionString: otherCA)
        configuration.connectTimeout = .seconds(5)
        let client = try PostgresClient(configuration: configuration)
        await #expect(throws: PostgresError.self) { try await client.query("SELECT 1") }
        await client.shutdown()
        // The right CA, but the certificate does not name the host the client asked for.
        let primary = try Cluster.admin("primary")
        let address = try #require(primary.split(separator: " ").first { $0.hasPrefix("host=") }).dropFirst(5)
        let misnamed = try await Self.psql(Self.with(Self.with(primary, "host", "db.example.org"), "hostaddr", String(address)))
        #expect(misnamed.status != 0 && misnamed.output.contains("does not match host name"), "\(misnamed.output)")
    }

    @Test func replicationRunsOverTLS() async throws {
        let primary = try Cluster.admin("primary")
        let streams = try await Self.psql(
            primary,
            "SELECT count(*) FILTER (WHERE s.ssl) || '/' || count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)"
        )
        #expect(streams.output == "2/2", "replication streams over TLS / all: \(streams.output)")
        for replica in ["replica1", "replica2"] {
            let receiver = try await Self.psql(try Cluster.admin(replica), "SELECT conninfo FROM pg_stat_wal_receiver")
            #expect(receiver.output.contains("sslmode=verify-full"), "\(replica)'s walreceiver does not verify the primary")
        }
    }
}

/// `infra/cluster up --plaintext-loopback` (what bench/security measures TLS against) opens plaintext on
/// 127.0.0.1 only, and the next `up` without it closes it again.
@Suite(Cluster.needed) struct PlaintextLoopbackTests {
    @Test func plaintextComesAndGoesWithTheFlag() async throws {
        let cluster = try await ScratchCluster(name: "plaintext", postgresPort: 25630, redisPort: 26389, replicas: 0)
        do {
            let admin = try cluster.admin("primary")
            let plain = PostgresTLSTests.with(admin, "sslmode", "disable")
            #expect(try await PostgresTLSTests.psql(plain).status != 0, "plaintext before the flag")
            try await cluster.run("up", "--plaintext-loopback")
            let opened = try await PostgresTLSTests.psql(plain, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            #expect(opened.status == 0 && opened.output == "f", "\(opened.output)")
            let redisPort = try #require(URLComponents(string: try cluster.value("CATALOG_REDIS"))?.port)
            var plainRedis = try RedisClient.Configuration(url: try cluster.value("CATALOG_REDIS"))
            plainRedis.tls = nil
            plainRedis.port = redisPort + 1
            let redis = try RedisClient(configuration: plainRedis)
            #expect(try await redis.send("PING").string == "PONG")
            await redis.shutdown()
            try await cluster.run("up")
            #expect(try await PostgresTLSTests.psql(plain).status != 0, "plaintext after an up without the flag")
            let closed = try RedisClient(configuration: plainRedis)
            await #expect(throws: RedisError.self) { try await closed.send("PING") }
            await closed.shutdown()
        } catch {
            await cluster.destroy()
            throw error
        }
        await cluster.destroy()
    }
}
