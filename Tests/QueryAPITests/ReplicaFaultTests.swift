import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import HTTPTypes
import HotViews
import HummingbirdTesting
import Logging
import Redis
import Synchronization
import Testing

@testable import QueryAPI

/// Pausing, stopping and starting replicas needs a cluster of its own, so that other suites never see it.
@Suite("query-api under replica faults", .serialized, Cluster.needed)
struct ReplicaFaultTests {
    @Test(
        "paused replay, a stopped replica, every replica stopped: reads go on and are never stale; fallback on or off; a read the statement timeout cancels is a 503 with Retry-After"
    )
    func faults() async throws {
        let cluster = try await ScratchCluster(name: "query-faults", postgresPort: 25600, redisPort: 26386, replicas: 2)
        do {
            let catalog = try await ReadCatalog(cluster: cluster)
            try await Self.statementTimeout(catalog)
            var settings = try catalog.settings()
            settings.tokenBudget = .seconds(5)
            try await catalog.run(settings) { [settings] client in
                try await waitUntilReady(client, replicas: ["replica1", "replica2"])
                try await Self.staleFill(cluster, catalog)
                try await Self.redisOutage(cluster, catalog)
                try await Self.pausedReplay(catalog, client)
                try await Self.stoppedReplica(cluster, client)
                try await Self.everyReplicaStopped(cluster, catalog, settings, client)
            }
            await catalog.close()
        } catch {
            await cluster.destroy()
            throw error
        }
        await cluster.destroy()
    }

    /// An ACCESS EXCLUSIVE lock taken on the primary is replayed on the replicas, where reads of the table
    /// then wait for it: the statement timeout cancels them (57014), which is a 503, not a 500 (schemathesis
    /// found the 500 with two-letter searches on a large catalog).
    ///
    /// On a scratch cluster of its own: the lock's transaction has a transaction id, which holds back the
    /// whole cluster's xmin, so on the shared cluster every other test's projector (commit-safe reads) and
    /// token reads stalled behind it for seconds (seen as 503s in other suites).
    static func statementTimeout(_ catalog: ReadCatalog) async throws {
        var settings = try catalog.settings()
        settings.queryTimeout = .seconds(1)
        let locker = try ReadCatalog.client(try catalog.admin("primary"))
        do {
            try await catalog.run(settings) { client in
                let (id, token) = try await catalog.create("Locked")
                #expect(try await client.get("/albums/\(id)", headers: [.consistencyToken: token.description]).status == .ok)
                try await locker.withTransaction { tx in
                    _ = try await tx.query("LOCK TABLE read_model.album_views IN ACCESS EXCLUSIVE MODE")
                    // The lock's WAL record reaches the replicas once WAL is flushed past it: a commit of
                    // another transaction does that (on this quiet cluster nothing else would); then wait
                    // until both replicas' replay holds the lock.
                    _ = try await catalog.create("Flush")
                    for replica in catalog.replicas.map(\.name) {
                        let admin = try ReadCatalog.client(try catalog.admin(replica))
                        let held = try await within(.seconds(10)) {
                            let rows = try await admin.query(
                                """
                                SELECT count(*) FROM pg_locks
                                WHERE mode = 'AccessExclusiveLock' AND relation = to_regclass('read_model.album_views')
                                """
                            )
                            return try rows.first?.decode(Int.self, at: 0) ?? 0 > 0
                        }
                        await admin.shutdown()
                        #expect(held, "\(replica) replayed the lock")
                    }
                    for uri in ["/albums/\(id)", "/albums?q=lo"] {
                        let reply = try await client.get(uri)
                        #expect(reply.status == .serviceUnavailable, "\(uri): \(reply.status) \(reply.text)")
                        #expect(reply.header("Retry-After") == "1", "\(uri)")
                    }
                }
                #expect(try await client.get("/albums/\(id)").status == .ok)
            }
        } catch {
            await locker.shutdown()
            throw error
        }
        await locker.shutdown()
    }

    /// The stale-fill race, end to end: the album is written through a real command-api process whose
    /// outbox relay delivers the fences to Redis. replica1 (the only replica this query-api reads) has not
    /// replayed version 2 when its fence arrives; a read without a token gets version 1 from it, and that
    /// view is not stored.
    static func staleFill(_ cluster: ScratchCluster, _ catalog: ReadCatalog) async throws {
        var settings = try catalog.cachedSettings()
        settings.cache.keyPrefix = ViewCache.Configuration().keyPrefix  // command-api's: this Redis is the test's own
        settings.replicas = catalog.replicas.filter { $0.name == "replica1" }
        settings.policy.maxLagSeconds = 600
        settings.policy.maxLagBytes = 1 << 40
        settings.policy.primaryFallback = false
        var redis = try RedisClient.Configuration(url: catalog.redis)
        redis.poolSize = 1
        let cache = ViewCache(client: try RedisClient(configuration: redis), configuration: settings.cache, logger: Logger(label: "test"))
        let port = try freePort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stale-fill-\(UUID())").path
        let commands = try BackgroundProcess(
            try Cluster.executable("command-api"),
            arguments: [],
            environment: [
                "CATALOG_PRIMARY": try cluster.value("CATALOG_PRIMARY"), "CATALOG_REDIS": catalog.redis, "CATALOG_COMMAND_REDIS": catalog.redis,
                "CATALOG_OUTBOX_PATH": directory + "/outbox.sqlite", "CATALOG_COMMAND_ADDR": "127.0.0.1:\(port)",
                "CATALOG_AUTH_KEYS": try cluster.value("CATALOG_AUTH_KEYS"), "CATALOG_AUTH_ISSUER": try cluster.value("CATALOG_AUTH_ISSUER"),
                "CATALOG_AUTH_AUDIENCE": try cluster.value("CATALOG_AUTH_AUDIENCE"),
            ],
            logPath: directory + ".log"
        )
        do {
            try await staleFill(catalog, settings, cache, CommandClient(port: port, token: try cluster.value("CATALOG_TOKEN")), commands)
        } catch {
            commands.signal(SIGKILL)
            _ = await commands.wait()
            throw error
        }
        commands.signal(SIGTERM)
        #expect(await commands.wait() == 0, "command-api shuts down cleanly: \(commands.output)")
    }

    static func staleFill(
        _ catalog: ReadCatalog,
        _ settings: QueryAPISettings,
        _ cache: ViewCache,
        _ writer: CommandClient,
        _ commands: BackgroundProcess
    ) async throws {
        #expect(try await within(.seconds(30)) { (try? await writer.send(.get, "/health/ready").status) == .ok }, "\(commands.output)")

        let app = try buildApplication(settings, logger: Logger(label: "query-api-stale-fill"))
        try await app.test(.live) { client in
            try await waitUntilReady(client, replicas: ["replica1"])
            let created = try await writer.send(.post, "/albums", #"{"title":"Race","artist":"Miles Davis","releaseYear":1959}"#)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let first = try await client.get("/albums/\(id)", headers: [.consistencyToken: created.header("Consistency-Token") ?? ""])
            #expect(first.json["version"] as? Int == 1)
            try await ScratchDatabase.run(psql: try catalog.admin("replica1"), "SELECT pg_wal_replay_pause()")
            let second = try await writer.send(.patch, "/albums/\(id)", #"{"title":"Race won"}"#)
            #expect(second.status == .ok, "\(second.text)")
            let album = try #require(UUID(text: id))
            #expect(try await within(.seconds(5)) { try await cache.fence(of: album) == 2 }, "command-api's relay delivers the fence")
            let stale = try await client.get("/albums/\(id)")
            #expect(stale.status == .ok)
            #expect(stale.json["version"] as? Int == 1, "replica1 has not replayed version 2")
            #expect(stale.header("Served-By") == "replica1")
            #expect(stale.header("Cache-Status") == "catalog; fwd=miss", "the stale view must not be stored")
            #expect(await cache.lookup(album, token: nil) == .miss)
            try await ScratchDatabase.run(psql: try catalog.admin("replica1"), "SELECT pg_wal_replay_resume()")
            let token = try #require(second.header("Consistency-Token").flatMap(ConsistencyToken.init))
            try await catalog.waitForReplicas(token)
            let fresh = try await client.get("/albums/\(id)")
            #expect(fresh.json["version"] as? Int == 2)
            #expect(fresh.json["title"] as? String == "Race won")
            let cached = try await client.get("/albums/\(id)")
            #expect(cached.json["version"] as? Int == 2)
            #expect(cached.header("Served-By") == "cache")
        }
    }

    /// Redis stopped: reads keep succeeding from the replicas, without an error; started again: hits resume.
    static func redisOutage(_ cluster: ScratchCluster, _ catalog: ReadCatalog) async throws {
        let app = try buildApplication(try catalog.cachedSettings(), logger: Logger(label: "query-api-redis-outage"))
        try await app.test(.live) { client in
            let (id, token) = try await catalog.create("Through an outage")
            _ = try await client.get("/albums/\(id)", headers: [.consistencyToken: token.description])
            #expect(try await client.get("/albums/\(id)").header("Served-By") == "cache")
            try await cluster.run("stop", "redis")
            var servedBy: [String: Int] = [:]
            for _ in 0..<200 {
                let reply = try await client.get("/albums/\(id)")
                #expect(reply.status == .ok, "\(reply.text)")
                servedBy[reply.header("Served-By") ?? "?", default: 0] += 1
            }
            #expect(servedBy["cache"] == nil && servedBy.values.reduce(0, +) == 200, "\(servedBy)")
            let ready = try await client.get("/health/ready")
            #expect(ready.status == .ok)
            #expect((ready.json["dependencies"] as? [String: String])?["redis"] == "skipped")
            try await cluster.run("start", "redis")
            #expect(try await servedAtLeastOnce(by: "cache", client, "/albums/\(id)"), "hits resume after Redis is back")
            // A restarted Redis has forgotten its scripts: a fence raise loads them again.
            let cache = ViewCache(
                client: try RedisClient(configuration: try RedisClient.Configuration(url: catalog.redis)),
                logger: Logger(label: "test")
            )
            try await cache.raiseFences([(UUID(), 3)])
        }
    }

    /// Replay paused on replica1 while 1,000 write-then-read cycles carry their tokens: no answer is stale;
    /// replica1 leaves rotation once its lag passes the bound, and comes back after resume.
    static func pausedReplay(_ catalog: ReadCatalog, _ client: any TestClientProtocol) async throws {
        let (id, _) = try await catalog.create("Paused")
        try await ScratchDatabase.run(psql: try catalog.admin("replica1"), "SELECT pg_wal_replay_pause()")
        var version = 1
        var servedBy: [String: Int] = [:]
        var stale = 0
        for cycle in 0..<1000 {
            let changed = AlbumEvent.detailsChanged(AlbumDetailsChanged(title: "Cycle \(cycle)", artist: "Miles Davis", releaseYear: 1959))
            let result = try await catalog.store.append(to: id.uuid, expectedVersion: version, events: [changed.encoded()], metadata: .test)
            version = result.version
            let reply = try await client.get("/albums/\(id)", headers: [.consistencyToken: result.token.description])
            #expect(reply.status == .ok, "cycle \(cycle): \(reply.text)")
            if reply.json["version"] as? Int != version || reply.json["title"] as? String != "Cycle \(cycle)" { stale += 1 }
            servedBy[reply.header("Served-By") ?? "?", default: 0] += 1
        }
        #expect(stale == 0, "stale answers: \(stale), served by \(servedBy)")
        #expect(servedBy["replica1"] == nil, "a paused replica never reaches a fresh token: \(servedBy)")
        // Past the lag bound (1 s): out of rotation for reads without a token too.
        try await Task.sleep(for: .milliseconds(1500))
        let ready = try await client.get("/health/ready").json["dependencies"] as? [String: String] ?? [:]
        #expect(ready["replica1"] == "lagging", "\(ready)")
        var untokened: [String: Int] = [:]
        for _ in 0..<200 {
            let reply = try await client.get("/albums/\(id)")
            untokened[reply.header("Served-By") ?? "?", default: 0] += 1
        }
        #expect(untokened["replica1"] == nil, "\(untokened)")

        try await ScratchDatabase.run(psql: try catalog.admin("replica1"), "SELECT pg_wal_replay_resume()")
        try await waitUntilReady(client, replicas: ["replica1"])
        #expect(try await servedAtLeastOnce(by: "replica1", client, "/albums?limit=5"))
    }

    /// replica2 stopped while reads run: every read succeeds; started again, it is back in rotation.
    static func stoppedReplica(_ cluster: ScratchCluster, _ client: any TestClientProtocol) async throws {
        let stopped = Flag()
        let (failures, reads) = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            group.addTask {
                try await cluster.run("stop", "replica2")
                stopped.set()
                return (0, 0)
            }
            group.addTask {
                // Reads before, during, and 200 after the stop.
                var (failures, reads, after) = (0, 0, 0)
                while after < 200 {
                    let reply = try await client.get("/albums?limit=5")
                    reads += 1
                    if reply.status != .ok { failures += 1 }
                    if stopped.isSet { after += 1 }
                }
                return (failures, reads)
            }
            var total = (0, 0)
            for try await result in group { total = (total.0 + result.0, total.1 + result.1) }
            return total
        }
        #expect(failures == 0, "\(failures) of \(reads) reads failed while replica2 stopped")
        try await cluster.run("start", "replica2")
        try await waitUntilReady(client, replicas: ["replica2"])
        #expect(try await servedAtLeastOnce(by: "replica2", client, "/albums?limit=5"))
    }

    /// Both replicas stopped: the primary answers (fallback on, the default); with fallback off, 503 with
    /// Retry-After, and /health/ready says not ready.
    static func everyReplicaStopped(
        _ cluster: ScratchCluster,
        _ catalog: ReadCatalog,
        _ settings: QueryAPISettings,
        _ client: any TestClientProtocol
    ) async throws {
        try await cluster.run("stop", "replica1")
        try await cluster.run("stop", "replica2")
        let (id, token) = try await catalog.create("Primary only")
        for _ in 0..<50 {
            let reply = try await client.get("/albums/\(id)", headers: [.consistencyToken: token.description])
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.header("Served-By") == "primary")
        }
        #expect(try await client.get("/health/ready").status == .ok)

        var strict = settings
        strict.policy.primaryFallback = false
        strict.tokenBudget = .milliseconds(300)
        let app = try buildApplication(strict, logger: Logger(label: "query-api-strict"))
        try await app.test(.live) { strictClient in
            for path in ["/albums/\(id)", "/albums", "/albums/\(id)/history"] {
                let reply = try await strictClient.get(path)
                #expect(reply.status == .serviceUnavailable, "\(path): \(reply.text)")
                #expect(reply.header("Retry-After") != nil)
                #expect(reply.header("Content-Type") == "application/problem+json")
            }
            #expect(try await strictClient.get("/health/ready").status == .serviceUnavailable)
        }
    }

    static func servedAtLeastOnce(by node: String, _ client: any TestClientProtocol, _ path: String) async throws -> Bool {
        for _ in 0..<400 {
            if try await client.get(path).header("Served-By") == node { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}

/// A flag one task raises and another reads.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// A client of a command-api process listening on a loopback port.
struct CommandClient: Sendable {
    let port: Int
    /// A bearer token with catalog:write.
    let token: String

    func send(_ method: HTTPRequest.Method, _ path: String, _ json: String? = nil) async throws -> Reply {
        let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(10)))
        client.connect()
        defer { Task { try? await client.shutdown() } }
        let response = try await client.execute(
            .init(
                path,
                method: method,
                headers: json == nil ? [.authorization: "Bearer \(token)"] : [.contentType: "application/json", .authorization: "Bearer \(token)"],
                body: json.map { .init(string: $0) }
            )
        )
        return Reply(status: response.status, headers: response.headers, text: response.body.map { String(buffer: $0) } ?? "")
    }
}
