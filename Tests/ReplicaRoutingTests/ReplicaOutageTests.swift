import ClusterHarness
import Domain
import EventStore
import Foundation
import Logging
import Postgres
import Projections
import ReplicaRouting
import Testing

/// Stopping and starting a replica needs a cluster of its own.
@Suite("Replica outage", .serialized)
struct ReplicaOutageTests {
    @Test("stop a replica: every read still succeeds; start it: it comes back into rotation")
    func stopAndStart() async throws {
        let cluster = try await ScratchCluster(name: "routing-outage", postgresPort: 25590, redisPort: 26385, replicas: 2)
        do {
            let owner = try ReplicaRouterTests.client(try cluster.value("CATALOG_MIGRATOR_PRIMARY"), poolSize: 1)
            try await Migrations.migrate(owner)
            await owner.shutdown()
            let projector = try ReplicaRouterTests.client(try cluster.value("CATALOG_PROJECTOR_PRIMARY"))
            let runner = ProjectionRunner(projection: AlbumsProjection(), client: projector, logger: Logger(label: "test"))
            try await projector.withConnection { session in
                _ = try #require(try await runner.takeLeadership(in: session))
                try await session.query("SELECT pg_advisory_unlock_all()")
            }
            await projector.shutdown()
            let replicas = try cluster.value("CATALOG_REPLICAS").split(separator: ",").map { entry in
                let parts = entry.split(separator: "=", maxSplits: 1)
                return ReplicaRouter.Replica(name: String(parts[0]), client: try ReplicaRouterTests.client(String(parts[1])))
            }
            let primary = try ReplicaRouterTests.client(try cluster.value("CATALOG_QUERY_PRIMARY"))
            let router = ReplicaRouter(replicas: replicas, primary: primary, logger: Logger(label: "test"))
            try await ReplicaRouterTests.waitForCheckpoints(router, .origin)

            try await cluster.run("stop", "replica2")
            var servedBy: [String: Int] = [:]
            for _ in 0..<200 {
                let (_, served) = try await router.read(token: nil) { try await ReplicaRouterTests.readCheckpoint($0) }
                servedBy[served.node, default: 0] += 1
            }
            #expect(servedBy["replica2"] == nil)
            #expect(servedBy["replica1", default: 0] > 0)

            try await cluster.run("start", "replica2")
            try await ReplicaRouterTests.waitForCheckpoints(router, .origin)
            servedBy = [:]
            for _ in 0..<200 {
                let (_, served) = try await router.read(token: nil) { try await ReplicaRouterTests.readCheckpoint($0) }
                servedBy[served.node, default: 0] += 1
            }
            #expect(servedBy["replica2", default: 0] > 0, "back in rotation: \(servedBy)")
            for replica in replicas { await replica.client.shutdown() }
            await primary.shutdown()
        } catch {
            await cluster.destroy()
            throw error
        }
        await cluster.destroy()
    }
}
