import ClusterHarness
import Foundation
import Postgres
import Testing

/// Stops, starts and promotes nodes of scratch clusters of their own, never the main one.
@Suite(.serialized, Cluster.needed) struct FaultTests {
    @Test func callsFailFastWhileThePrimaryIsDownAndRecoverInTheSameProcess() async throws {
        let cluster = try await ScratchCluster(name: "postgres-restart", postgresPort: 25540, redisPort: 26380, replicas: 0)

        var configuration = PostgresClient.Configuration(connectionString: try cluster.value("CATALOG_MIGRATOR_PRIMARY"))
        configuration.poolSize = 2
        configuration.connectTimeout = .seconds(30)
        let client = try PostgresClient(configuration: configuration)
        #expect(try await client.scalar("SELECT 1", as: Int.self) == 1)

        try await cluster.run("stop", "primary")
        for _ in 0..<3 {
            let started = ContinuousClock.now
            let error = await #expect(throws: PostgresError.self) { try await client.query("SELECT 1") }
            #expect(error?.isUnavailable == true)
            #expect([.connectionFailed, .connectionLost].contains(error?.code))
            // Refused at once, not after the 30 s connect timeout.
            #expect(ContinuousClock.now - started < .seconds(15))
        }

        try await cluster.run("start", "primary")
        #expect(try await client.scalar("SELECT 1", as: Int.self) == 1)
        await client.shutdown()
        await cluster.destroy()
    }

    @Test func aMultiHostClientWritesToThePromotedReplica() async throws {
        let cluster = try await ScratchCluster(name: "postgres-failover", postgresPort: 25550, redisPort: 26381, replicas: 1)

        var configuration = PostgresClient.Configuration(connectionString: try cluster.value("CATALOG_MIGRATOR_PRIMARY"))
        configuration.poolSize = 2
        configuration.connectTimeout = .seconds(2)
        let client = try PostgresClient(configuration: configuration)
        try await client.query("CREATE TABLE failover (value text)")
        try await client.query("INSERT INTO failover VALUES (\("before"))")
        #expect(try await client.scalar("SELECT inet_server_port()", as: Int.self) == 25550)

        try await cluster.run("stop", "primary")
        try await cluster.run("promote", "replica1")

        try await client.query("INSERT INTO failover VALUES (\("after"))")
        #expect(try await client.scalar("SELECT inet_server_port()", as: Int.self) == 25551)
        #expect(try await client.scalar("SELECT pg_is_in_recovery()", as: Bool.self) == false)
        let values = try await client.query("SELECT value FROM failover ORDER BY value").map { try $0.decode(String.self, at: 0) }
        #expect(values == ["after", "before"])
        await client.shutdown()
        await cluster.destroy()
    }
}
