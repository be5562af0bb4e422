import ClusterHarness
import Domain
import EventLog
import Foundation
import Logging
import Postgres
import Projections
import ReplicaRouting
import Testing

/// Faults of a whole node (paused replay, a stopped replica) need a cluster of their own: on the main
/// cluster they would reach every other suite's reads.
@Suite("Replica outage", .serialized, Cluster.needed)
struct ReplicaOutageTests {
    @Test(
        "paused replay: out of rotation past the lag bound, back after resume; a stopped replica: every read still succeeds, back after start; a stopped primary: the replicas keep serving"
    )
    func pausedAndStopped() async throws {
        let cluster = try await ScratchCluster(name: "routing-outage", postgresPort: 25590, redisPort: 26385, replicas: 2)
        do {
            let owner = try ReplicaRouterTests.client(try cluster.value("CATALOG_MIGRATOR_PRIMARY"), poolSize: 1)
            try await CatalogSchema.migrate(owner)
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
            let writer = try ReplicaRouterTests.client(try cluster.value("CATALOG_PRIMARY"))
            let router = ReplicaRouter(replicas: replicas, primary: primary, logger: Logger(label: "test"))
            try await ReplicaRouterTests.waitForCheckpoints(router, .origin)

            try await Self.pausedReplay(cluster, router, EventStore(client: writer))
            try await Self.stoppedReplica(cluster, router)
            try await Self.stoppedPrimary(cluster, router)

            for replica in replicas { await replica.client.shutdown() }
            for client in [primary, writer] { await client.shutdown() }
        } catch {
            await cluster.destroy()
            throw error
        }
        await cluster.destroy()
    }

    static func pausedReplay(_ cluster: ScratchCluster, _ router: ReplicaRouter, _ store: EventStore) async throws {
        let admin = try cluster.admin("replica1")
        let pause = { (sql: String) in
            _ = try await ScratchDatabase.run(psql: admin, sql)
        }
        try await pause("SELECT pg_wal_replay_pause()")
        do {
            // Writes make WAL that replica1 receives but does not replay.
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                for _ in 0..<20 {
                    _ = try await store.append(
                        to: UUID(),
                        expectedVersion: 0,
                        events: [AlbumEvent.created(AlbumCreated(title: "Lag", artist: "A", releaseYear: nil, songs: [])).encoded()],
                        metadata: .test
                    )
                }
                await router.checkAll()
                if let node = router.snapshot.node(named: "replica1"), !router.snapshot.isUsable(node) { break }
            }
            let paused = try #require(router.snapshot.node(named: "replica1"))
            #expect(!router.snapshot.isUsable(paused), "lag \(paused.health.lagSeconds) s, \(paused.health.lagBytes) bytes")
            for _ in 0..<100 {
                let (_, served) = try await router.read(token: nil) { try await ReplicaRouterTests.readCheckpoint($0) }
                #expect(served.node == "replica2")
            }
        } catch {
            try? await pause("SELECT pg_wal_replay_resume()")
            throw error
        }
        try await pause("SELECT pg_wal_replay_resume()")
        for _ in 0..<200 {
            await router.checkAll()
            if let node = router.snapshot.node(named: "replica1"), router.snapshot.isUsable(node) { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("replica1 did not come back into rotation")
    }

    static func stoppedReplica(_ cluster: ScratchCluster, _ router: ReplicaRouter) async throws {
        // Stopped while 64 readers keep both replicas' pipelines full: the reads in flight on replica2
        // end (its connections break, the router reads again on replica1), none fails and none hangs.
        let loadEnds = ContinuousClock.now + .seconds(3)
        let (answered, failures) = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for _ in 0..<64 {
                group.addTask {
                    var answered = 0
                    var failures: [String] = []
                    while ContinuousClock.now < loadEnds {
                        do {
                            _ = try await router.read(token: nil) { try await ReplicaRouterTests.readCheckpoint($0) }
                            answered += 1
                        } catch {
                            failures.append("\(error)")
                        }
                    }
                    return (answered, failures)
                }
            }
            try await Task.sleep(for: .milliseconds(500))
            try await cluster.run("stop", "replica2")
            var answered = 0
            var failures: [String] = []
            for try await (count, failed) in group {
                answered += count
                failures += failed
            }
            return (answered, failures)
        }
        #expect(failures.isEmpty, "\(failures.count) reads failed, first: \(failures.first ?? "")")
        #expect(answered > 64)
        // Every reader ended soon after the load stopped: none hung on a broken pipeline.
        #expect(ContinuousClock.now - loadEnds < .seconds(10))

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
    }

    /// The primary stopped: nothing newer can commit, so the replicas, measured against the last position
    /// the primary was seen at, stay usable and keep serving reads.
    static func stoppedPrimary(_ cluster: ScratchCluster, _ router: ReplicaRouter) async throws {
        try await cluster.run("stop", "primary")
        for _ in 0..<4 { await router.checkAll() }
        #expect(router.snapshot.nodes.allSatisfy { router.snapshot.isUsable($0) }, "\(router.snapshot.nodes)")
        var servedBy: [String: Int] = [:]
        for _ in 0..<200 {
            let (_, served) = try await router.read(token: nil) { try await ReplicaRouterTests.readCheckpoint($0) }
            servedBy[served.node, default: 0] += 1
        }
        #expect(servedBy[ReplicaRouter.primaryName] == nil && servedBy.values.reduce(0, +) == 200, "\(servedBy)")
    }
}
