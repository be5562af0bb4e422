import ClusterHarness
import Foundation
import Postgres
import Redis
import Testing

@Suite struct LocalClusterTests {
    @Test func upTwiceLeavesOneHealthyClusterWithBothReplicasStreaming() async throws {
        let pidsBefore = try await postmasterPids()
        for _ in 0..<2 {
            let up = try await Cluster.run(["up"])
            #expect(up.status == 0, "\(up.output)")
        }
        // Nothing was restarted or duplicated.
        #expect(try await postmasterPids() == pidsBefore)
        let status = try await Cluster.run(["status"])
        #expect(status.status == 0)
        let lines = status.output.split(separator: "\n")
        #expect(lines.first?.contains("LAG_BYTES") == true)
        #expect(lines.first?.contains("LAG_SECONDS") == true)
        for replica in ["replica1", "replica2"] {
            let line = lines.first { $0.hasPrefix(replica) }
            #expect(line?.contains("replica") == true && line?.contains("streaming") == true, "\(status.output)")
        }
        #expect(lines.first { $0.hasPrefix("primary") }?.contains("2 streaming") == true)
        #expect(lines.first { $0.hasPrefix("redis") }?.contains("ping ok") == true)
    }

    @Test func dataWrittenOnThePrimaryIsReadableOnBothReplicas() async throws {
        let owner = try PostgresClient(configuration: .init(connectionString: try Cluster.value("CATALOG_MIGRATOR_PRIMARY")))
        let table = "replicated_" + UUID().uuidString.prefix(8).lowercased()
        let marker = UUID()
        try await owner.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (marker uuid)"))
        try await owner.query("INSERT INTO \(unsafeSQL: table) VALUES (\(marker))")
        for replica in ["replica1", "replica2"] {
            let client = try PostgresClient(configuration: .init(connectionString: try Cluster.admin(replica)))
            #expect(try await client.query("SELECT pg_is_in_recovery()")[0].decode(Bool.self, at: 0))
            let found = try await eventually {
                try await client.query("SELECT count(*) FROM \(unsafeSQL: table) WHERE marker = \(marker)")[0].decode(Int.self, at: 0) == 1
            }
            #expect(found, "the row did not arrive on \(replica)")
        }
        try await owner.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table)"))
    }

    @Test func everyListenerIsOnLoopbackAndEverySecretIsPrivate() async throws {
        for node in ["primary", "replica1", "replica2"] {
            let client = try PostgresClient(configuration: .init(connectionString: try Cluster.admin(node)))
            let rows = try await client.query("SELECT current_setting('listen_addresses'), current_setting('password_encryption')")
            #expect(try rows[0].decode(String.self, at: 0) == "127.0.0.1")
            #expect(try rows[0].decode(String.self, at: 1) == "scram-sha-256")
            let hba = try await client.query("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
            #expect(try hba.map { try $0.decode(String.self, at: 0) } == ["scram-sha-256"])
        }
        let redis = try RedisClient(configuration: try .init(url: try Cluster.value("CATALOG_REDIS")))
        let bind = try await redis.send("CONFIG", "GET", "bind").array?.last?.string
        #expect(bind == "127.0.0.1")
        let secrets = Cluster.repositoryRoot.appendingPathComponent(".cluster/secrets")
        let files = try FileManager.default.contentsOfDirectory(atPath: secrets.path)
        #expect(files.count >= 7)
        for file in files {
            let attributes = try FileManager.default.attributesOfItem(atPath: secrets.appendingPathComponent(file).path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file)")
        }
    }

    @Test func envPrintsEveryVariableOfTheContract() async throws {
        let env = try await Cluster.run(["env"])
        let values = Cluster.parseExports(env.output)
        for name in [
            "CATALOG_PRIMARY", "CATALOG_PROJECTOR_PRIMARY", "CATALOG_REPLICAS", "CATALOG_QUERY_PRIMARY", "CATALOG_REDIS",
            "CATALOG_OUTBOX_PATH", "CATALOG_COMMAND_ADDR", "CATALOG_QUERY_ADDR",
        ] {
            #expect(values[name]?.isEmpty == false, "\(name) missing")
        }
        #expect(values["CATALOG_PRIMARY"]?.contains("target_session_attrs=read-write") == true)
        #expect(values["CATALOG_REPLICAS"]?.hasPrefix("replica1=") == true)
    }

    private func postmasterPids() async throws -> [String] {
        var started: [String] = []
        for node in ["primary", "replica1", "replica2"] {
            let client = try PostgresClient(configuration: .init(connectionString: try Cluster.admin(node)))
            started.append(try await client.query("SELECT pg_postmaster_start_time()::text")[0].decode(String.self, at: 0))
        }
        return started
    }
}

@Suite struct PromotionTests {
    @Test func afterPromotionTheOtherReplicaFollowsAndTheOldPrimaryRejoins() async throws {
        let cluster = try await ScratchCluster(name: "cluster-promote", postgresPort: 25570, redisPort: 26383, replicas: 2)
        func client(_ node: String) throws -> PostgresClient {
            try PostgresClient(configuration: .init(connectionString: try cluster.admin(node)))
        }
        try await client("primary").query("CREATE TABLE promoted (value text)")
        try await client("primary").query("INSERT INTO promoted VALUES ('before')")

        try await cluster.run("stop", "primary")
        try await cluster.run("promote", "replica1")
        try await client("replica1").query("INSERT INTO promoted VALUES ('after')")
        #expect(try await client("replica1").query("SELECT pg_is_in_recovery()")[0].decode(Bool.self, at: 0) == false)

        let status = try await cluster.run("status")
        #expect(status.split(separator: "\n").first { $0.hasPrefix("replica1") }?.contains("primary") == true, "\(status)")
        #expect(try await eventually { try await count(try client("replica2"), of: "after") == 1 }, "replica2 did not follow")

        try await cluster.run("start", "primary")
        #expect(try await eventually { try await count(try client("primary"), of: "after") == 1 }, "the old primary did not rejoin")
        #expect(try await client("primary").query("SELECT pg_is_in_recovery()")[0].decode(Bool.self, at: 0))

        let env = Cluster.parseExports(try await cluster.run("env"))
        #expect(env["CATALOG_REPLICAS"]?.contains("primary=") == true)
        #expect(env["CATALOG_REPLICAS"]?.contains("replica1=") == false)
        await cluster.destroy()
    }

    private func count(_ client: PostgresClient, of value: String) async throws -> Int {
        try await client.query("SELECT count(*) FROM promoted WHERE value = \(value)")[0].decode(Int.self, at: 0)
    }
}

/// Polls `condition` for up to `timeout`, for facts that replication makes true shortly.
func eventually(timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}
