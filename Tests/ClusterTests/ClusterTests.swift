import ClusterHarness
import Foundation
import Postgres
import Redis
import Testing

@Suite(Cluster.needed) struct LocalClusterTests {
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
            let path = secrets.appendingPathComponent(file).path
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if attributes[.type] as? FileAttributeType == .typeDirectory {
                // The private keys of the TLS certificates: a closed directory of 0600 files.
                #expect((attributes[.posixPermissions] as? Int) == 0o700, "\(file)")
                for key in try FileManager.default.contentsOfDirectory(atPath: path) {
                    let keyAttributes = try FileManager.default.attributesOfItem(atPath: path + "/" + key)
                    #expect((keyAttributes[.posixPermissions] as? Int) == 0o600, "\(file)/\(key)")
                }
            } else {
                #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file)")
            }
        }
    }

    @Test func envPrintsEveryVariableOfTheContract() async throws {
        let env = try await Cluster.run(["env"])
        let values = Cluster.parseExports(env.output)
        for name in [
            "CATALOG_PRIMARY", "CATALOG_PROJECTOR_PRIMARY", "CATALOG_REPLICAS", "CATALOG_QUERY_PRIMARY", "CATALOG_REDIS",
            "CATALOG_COMMAND_REDIS", "CATALOG_QUERY_REDIS", "CATALOG_OUTBOX_PATH", "CATALOG_COMMAND_ADDR", "CATALOG_QUERY_ADDR",
        ] {
            #expect(values[name]?.isEmpty == false, "\(name) missing")
        }
        // Each Redis URL names its ACL user: the operator's, and one for each service.
        // TLS (rediss://), verified against the cluster's CA.
        #expect(values["CATALOG_REDIS"]?.hasPrefix("rediss://admin:") == true)
        #expect(values["CATALOG_COMMAND_REDIS"]?.hasPrefix("rediss://command-api:") == true)
        #expect(values["CATALOG_QUERY_REDIS"]?.hasPrefix("rediss://query-api:") == true)
        #expect(values["CATALOG_REDIS"]?.contains("?ssl_ca_certs=") == true)
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

@Suite(Cluster.needed) struct PromotionTests {
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

/// `infra/cluster up --hosts`: each node at an address of its own. Loopback has a whole /8, so the test
/// places nodes on 127.0.0.2-4 without network namespaces (infra/faults places them in namespaces).
@Suite(Cluster.needed) struct HostsFileTests {
    static func hostsFile(_ contents: String) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-hosts-\(UUID())")
        try contents.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    @Test func eachNodeListensOnTheAddressTheHostsFileGivesAndOnNoOther() async throws {
        let file = try Self.hostsFile(
            """
            # every node on a loopback address of its own
            primary   127.0.0.2:25620
            replica1  127.0.0.3:25621
            redis     127.0.0.4:26388
            allow     127.0.0.0/8
            """
        )
        let cluster = try await ScratchCluster(name: "cluster-hosts", postgresPort: 25620, redisPort: 26388, replicas: 1, hostsFile: file)
        #expect(try cluster.value("CATALOG_PRIMARY").contains("host=127.0.0.2,127.0.0.3 port=25620,25621"))
        #expect(try cluster.value("CATALOG_REPLICAS").hasPrefix("replica1=host=127.0.0.3 port=25621 "))
        #expect(try cluster.value("CATALOG_REDIS").contains("@127.0.0.4:26388/0?ssl_ca_certs="))
        for (node, address, recovery) in [("primary", "127.0.0.2", false), ("replica1", "127.0.0.3", true)] {
            let client = try PostgresClient(configuration: .init(connectionString: try cluster.admin(node)))
            let row = try await client.query("SELECT host(inet_server_addr()), pg_is_in_recovery()")[0]
            #expect(try row.decode(String.self, at: 0) == address)
            #expect(try row.decode(Bool.self, at: 1) == recovery)
            await client.shutdown()
        }
        // The primary's port on another loopback address: nothing listens there.
        var configuration = PostgresClient.Configuration(
            connectionString: try cluster.admin("primary").replacingOccurrences(of: "host=127.0.0.2", with: "host=127.0.0.1")
        )
        configuration.connectTimeout = .seconds(2)
        let elsewhere = try PostgresClient(configuration: configuration)
        await #expect(throws: (any Error).self) { try await elsewhere.query("SELECT 1") }
        await elsewhere.shutdown()
        let status = try await cluster.run("status")
        #expect(status.contains("127.0.0.3:25621") && status.contains("127.0.0.4:26388"), "\(status)")
        await cluster.destroy()
        try? FileManager.default.removeItem(atPath: file)
    }

    @Test(arguments: [
        ("primary 127.0.0.2:25630\nmongo 127.0.0.9", "unknown node mongo"),
        ("primary localhost:25630", "primary needs an IPv4"),
        ("primary 127.0.0.2:25630 netns no-such-namespace", "no network namespace no-such-namespace"),
        ("replica1 127.0.0.3:25631", "names no primary"),
        ("primary 127.0.0.2:25630\nallow everyone", "allow takes an IPv4 CIDR"),
    ])
    func aHostsFileWithAMistakeIsRefusedBeforeAnythingStarts(contents: String, message: String) async throws {
        let file = try Self.hostsFile(contents)
        let directory = Cluster.repositoryRoot.appendingPathComponent(".cluster-scratch/hosts-refused-\(UUID())").path
        let up = try await Cluster.run(["up", "--hosts", file], environment: ["CATALOG_CLUSTER_DIR": directory])
        #expect(up.status != 0)
        #expect(up.output.contains(message), "\(up.output)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/primary"), "nothing was started")
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.removeItem(atPath: file)
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
