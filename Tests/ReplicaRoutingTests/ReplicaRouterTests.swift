import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import Logging
import Postgres
import Projections
import ReplicaRouting
import Testing

/// The router on the real cluster, in a scratch database with the schema and a projected checkpoint.
@Suite("Replica router", .serialized, Cluster.needed)
struct ReplicaRouterTests {
    static func client(_ conninfo: String, poolSize: Int = 4) throws -> PostgresClient {
        var configuration = PostgresClient.Configuration(connectionString: conninfo)
        configuration.poolSize = poolSize
        configuration.connectTimeout = .seconds(2)
        configuration.queryTimeout = .seconds(5)
        return try PostgresClient(configuration: configuration)
    }

    /// A scratch database whose albums projection has run once, and a router over its replicas.
    static func withRouter(
        _ policy: RoutingPolicy = .init(),
        _ body: (ScratchDatabase, ReplicaRouter, EventStore) async throws -> Void
    ) async throws {
        let database = try await ScratchDatabase("routing")
        let owner = try client(database.conninfo("CATALOG_MIGRATOR_PRIMARY"), poolSize: 1)
        try await CatalogSchema.migrate(owner)
        await owner.shutdown()
        let writer = try client(database.conninfo("CATALOG_PRIMARY"))
        let store = EventStore(client: writer)
        let projector = try client(database.conninfo("CATALOG_PROJECTOR_PRIMARY"))
        _ = try await store.append(
            to: UUID(),
            expectedVersion: 0,
            events: [AlbumEvent.created(AlbumCreated(title: "Routed", artist: "A", releaseYear: nil, songs: [])).encoded()],
            metadata: .test
        )
        let runner = ProjectionRunner(projection: AlbumsProjection(), client: projector, logger: Logger(label: "test"))
        try await projector.withConnection { session in
            let fence = try #require(try await runner.takeLeadership(in: session))
            _ = try await runner.applyNextBatch(fence: fence, in: session)
            try await session.query("SELECT pg_advisory_unlock_all()")
        }
        let replicas = try database.replicas().map { ReplicaRouter.Replica(name: $0.name, client: try client($0.conninfo)) }
        let primary = try client(database.conninfo("CATALOG_QUERY_PRIMARY"))
        let router = ReplicaRouter(replicas: replicas, primary: primary, policy: policy, logger: Logger(label: "test"))
        do {
            try await body(database, router, store)
        } catch {
            for replica in replicas { await replica.client.shutdown() }
            await database.drop()
            throw error
        }
        for replica in replicas { await replica.client.shutdown() }
        for client in [primary, writer, projector] { await client.shutdown() }
        await database.drop()
    }

    /// Reads the checkpoint in the node's snapshot, as query-api's statements do.
    static func readCheckpoint(_ session: PostgresReader) async throws -> (String, ConsistencyToken) {
        let rows = try await session.query(
            "SELECT txid::text, position, pg_is_in_recovery()::text FROM read_model.projection_checkpoints WHERE projection = 'albums'"
        )
        let row = try #require(rows.first)
        return (try row.decode(String.self, at: 2), try ConsistencyToken(row, transaction: 0, position: 1))
    }

    static func waitForCheckpoints(_ router: ReplicaRouter, _ token: ConsistencyToken) async throws {
        for _ in 0..<200 {
            await router.checkAll()
            if router.snapshot.nodes.allSatisfy({ ($0.health.checkpoint ?? .origin) >= token && router.snapshot.isUsable($0) }) { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("the replicas did not become usable: \(router.snapshot.nodes)")
    }

    @Test("with both replicas healthy every read goes to a replica, and both take reads")
    func replicasOnly() async throws {
        try await Self.withRouter { _, router, store in
            let head = try await store.head()
            try await Self.waitForCheckpoints(router, .origin)
            var servedBy: [String: Int] = [:]
            for _ in 0..<200 {
                let (recovery, served) = try await router.read(token: nil) { try await Self.readCheckpoint($0) }
                #expect(recovery == "true", "answered by a standby")
                servedBy[served.node, default: 0] += 1
            }
            #expect(servedBy.keys.sorted() == ["replica1", "replica2"])
            _ = head
        }
    }

    @Test("a token no node has reached: wait out the budget, then 503 (never a stale answer)")
    func unreachedToken() async throws {
        try await Self.withRouter { _, router, store in
            try await Self.waitForCheckpoints(router, .origin)
            let future = ConsistencyToken(transaction: UInt64(Int64.max), position: 1)
            let started = ContinuousClock.now
            await #expect(throws: ReplicaRouter.RoutingError.unavailable) {
                _ = try await router.read(token: future, budget: .milliseconds(300)) { try await Self.readCheckpoint($0) }
            }
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            // A token the replicas hold is served at once, with As-Of at or above it.
            let checkpoint = try #require(router.snapshot.nodes.first?.health.checkpoint)
            let (_, served) = try await router.read(token: checkpoint) { try await Self.readCheckpoint($0) }
            #expect(served.asOf >= checkpoint)
            #expect(served.node != ReplicaRouter.primaryName)
            _ = store
        }
    }

    @Test("before the first round of health checks a read waits for it instead of going to the primary")
    func waitsForFirstRound() async throws {
        try await Self.withRouter { _, router, _ in
            #expect(router.snapshot.measured == false)
            let read = Task { try await router.read(token: nil, budget: .seconds(10)) { try await Self.readCheckpoint($0) } }
            // The read is seen waiting for the round (twice: it went round its loop) before the round runs.
            #expect(try await within(.seconds(5)) { router.pausesForFirstRound >= 2 }, "the read pauses for the first round")
            await router.checkAll()
            let (recovery, served) = try await read.value
            #expect(served.node != ReplicaRouter.primaryName, "the read waited for the replicas to be known")
            #expect(recovery == "true")
        }
    }

    @Test("no usable replica: the primary answers when fallback is on, 503 when it is off")
    func primaryFallback() async throws {
        var off = RoutingPolicy()
        off.primaryFallback = false
        try await Self.withRouter(off) { _, router, _ in
            // No health check has run: no replica is usable.
            await #expect(throws: ReplicaRouter.RoutingError.unavailable) {
                _ = try await router.read(token: nil) { try await Self.readCheckpoint($0) }
            }
        }
        try await Self.withRouter { _, router, _ in
            // Still no health check: the read waits out its budget for one, then the primary answers.
            let (recovery, served) = try await router.read(token: nil, budget: .milliseconds(300)) { try await Self.readCheckpoint($0) }
            #expect(served.node == ReplicaRouter.primaryName)
            #expect(recovery == "false")
        }
    }
}
