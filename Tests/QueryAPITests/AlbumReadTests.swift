import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Postgres
import Projections
import Testing

@testable import QueryAPI

struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
    func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
}

extension TestClientProtocol {
    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> Reply {
        try await execute(uri: uri, method: .get, headers: headers) { response in
            Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
    }
}

/// A scratch catalog (a database of its own on the main cluster, or a whole scratch cluster for tests
/// that stop nodes) with a projector running in this process, and query-api over its replicas.
final class ReadCatalog: Sendable {
    /// The conninfo in a CATALOG_... variable, for this catalog's database.
    let conninfo: @Sendable (String) throws -> String
    let replicas: [(name: String, conninfo: String)]
    /// Superuser conninfo of a node (primary, replica1, ...), for this catalog's database.
    let admin: @Sendable (String) throws -> String
    /// The cluster's Redis (shared with other suites: each catalog's keys carry a prefix of their own).
    let redis: String
    let writer: PostgresClient
    let projector: PostgresClient
    let store: EventStore
    private let teardown: @Sendable () async -> Void

    /// A database of its own on the main cluster.
    convenience init() async throws {
        let database = try await ScratchDatabase("query")
        try await self.init(
            conninfo: { try database.conninfo($0) },
            replicas: try database.replicas(),
            admin: { try database.admin($0) },
            redis: try Cluster.value("CATALOG_REDIS"),
            teardown: { await database.drop() }
        )
    }

    /// The catalog database of a scratch cluster.
    convenience init(cluster: ScratchCluster) async throws {
        try await self.init(
            conninfo: { try cluster.value($0) },
            replicas: try cluster.value("CATALOG_REPLICAS").split(separator: ",").map { entry in
                let parts = entry.split(separator: "=", maxSplits: 1)
                return (String(parts[0]), String(parts[1]))
            },
            admin: { try cluster.admin($0) },
            redis: try cluster.value("CATALOG_REDIS"),
            teardown: {}
        )
    }

    private init(
        conninfo: @escaping @Sendable (String) throws -> String,
        replicas: [(name: String, conninfo: String)],
        admin: @escaping @Sendable (String) throws -> String,
        redis: String,
        teardown: @escaping @Sendable () async -> Void
    ) async throws {
        self.conninfo = conninfo
        self.replicas = replicas
        self.admin = admin
        self.redis = redis
        self.teardown = teardown
        let owner = try Self.client(conninfo("CATALOG_MIGRATOR_PRIMARY"))
        try await CatalogSchema.migrate(owner)
        await owner.shutdown()
        writer = try Self.client(conninfo("CATALOG_PRIMARY"))
        projector = try Self.client(conninfo("CATALOG_PROJECTOR_PRIMARY"))
        store = EventStore(client: writer)
    }

    static func client(_ conninfo: String) throws -> PostgresClient {
        var configuration = PostgresClient.Configuration(connectionString: conninfo)
        configuration.poolSize = 4
        return try PostgresClient(configuration: configuration)
    }

    func settings() throws -> QueryAPISettings {
        var settings = QueryAPISettings(replicas: replicas, primary: try conninfo("CATALOG_QUERY_PRIMARY"))
        settings.healthCheckInterval = .milliseconds(50)
        // Tests in other databases of the cluster hold the cluster-wide commit-safe horizon back at times
        // (open transactions), which delays the projector; the tokens still must be met, only later.
        settings.tokenBudget = .seconds(15)
        return settings
    }

    /// Waits (up to 30 s) until every replica's checkpoint has reached `token`.
    func waitForReplicas(_ token: ConsistencyToken) async throws {
        for replica in replicas {
            let reader = try Self.client(replica.conninfo)
            var reached = false
            for _ in 0..<600 where !reached {
                let rows = try? await reader.query(
                    "SELECT txid::text, position FROM read_model.projection_checkpoints WHERE projection = 'albums'"
                )
                if let row = rows?.first, let checkpoint = try? ConsistencyToken(row, transaction: 0, position: 1), checkpoint >= token {
                    reached = true
                } else {
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            await reader.shutdown()
            #expect(reached, "\(replica.name) never reached \(token)")
        }
    }

    /// Settings with the Redis hot views on, under a key prefix of this catalog's own.
    func cachedSettings() throws -> QueryAPISettings {
        var settings = try settings()
        settings.redis = redis
        settings.cache.keyPrefix = "test:\(UInt32.random(in: 0...UInt32.max))"
        return settings
    }

    /// How often each node ran the album statement of GET /albums/{id} in this catalog's database, from
    /// the node's own statement statistics.
    func albumReadCalls() async throws -> [String: Int] {
        var calls: [String: Int] = [:]
        for node in ["primary"] + replicas.map(\.name) {
            let count = try await ScratchDatabase.run(
                psql: try admin(node),
                """
                SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
                WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND query LIKE '%LEFT JOIN read_model.album_views v ON v.id =%'
                """
            )
            calls[node] = Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        return calls
    }

    func close() async {
        await writer.shutdown()
        await projector.shutdown()
        await teardown()
    }

    /// Runs the projector and query-api (through HummingbirdTesting's router client) while `body` runs.
    func run(_ settings: QueryAPISettings? = nil, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = try buildApplication(try settings ?? self.settings(), logger: Logger(label: "query-api-test"))
        try await withProjector {
            try await app.test(.live) { client in try await body(client) }
        }
    }

    /// Runs the projector in this process while `body` runs, once the read tables exist on every node.
    func withProjector(_ body: () async throws -> Void) async throws {
        var runnerConfiguration = ProjectionRunner.Configuration()
        runnerConfiguration.pollInterval = .milliseconds(5)
        let runner = ProjectionRunner(
            projection: AlbumsProjection(),
            client: projector,
            configuration: runnerConfiguration,
            logger: Logger(label: "test")
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.run() }
            defer { group.cancelAll() }
            // The projector creates the read tables when it first leads; wait until every node has them.
            for conninfo in try [conninfo("CATALOG_QUERY_PRIMARY")] + replicas.map(\.conninfo) {
                let reader = try Self.client(conninfo)
                for _ in 0..<400 {
                    let rows = try await reader.query("SELECT to_regclass('read_model.album_views') IS NOT NULL")
                    if try rows.first?.decode(Bool.self, at: 0) == true { break }
                    try await Task.sleep(for: .milliseconds(25))
                }
                await reader.shutdown()
            }
            try await body()
        }
    }

    func create(_ title: String, artist: String = "Miles Davis", songs: [(String, Int?)] = []) async throws -> (AlbumID, ConsistencyToken) {
        let id = AlbumID()
        let created = AlbumCreated(
            title: title,
            artist: artist,
            releaseYear: 1959,
            songs: songs.map { Song(id: SongID(), title: $0.0, durationSeconds: $0.1) }
        )
        let result = try await store.append(to: id.uuid, expectedVersion: 0, events: [AlbumEvent.created(created).encoded()], metadata: .test)
        return (id, result.token)
    }
}

/// Waits (up to 20 s) until /health/ready lists each of `replicas` as usable.
func waitUntilReady(_ client: any TestClientProtocol, replicas: [String]) async throws {
    var last = ""
    for _ in 0..<400 {
        let ready = try await client.get("/health/ready")
        let dependencies = ready.json["dependencies"] as? [String: String] ?? [:]
        if replicas.allSatisfy({ dependencies[$0] == "usable" }) { return }
        last = ready.text
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("replicas \(replicas) never all usable; last /health/ready: \(last)")
}

@Suite("query-api album reads", .serialized, Cluster.needed)
struct AlbumReadTests {
    @Test("an album written with a token is read back at once from a replica, with its headers; If-None-Match gives 304")
    func readYourWrite() async throws {
        let catalog = try await ReadCatalog()
        do {
            try await catalog.run { client in
                let (id, token) = try await catalog.create("Kind of Blue", songs: [("So What", 562), ("Blue in Green", nil)])
                let reply = try await client.get("/albums/\(id)", headers: [.consistencyToken: token.description])
                #expect(reply.status == .ok, "\(reply.text)")
                #expect(reply.header("Content-Type") == "application/json")
                #expect(reply.header("ETag") == "\"1\"")
                #expect(["replica1", "replica2", "primary"].contains(reply.header("Served-By") ?? ""))
                let asOf = try #require(reply.header("As-Of").flatMap(ConsistencyToken.init))
                #expect(asOf >= token)
                #expect(reply.header("Request-Id") != nil)
                let body = reply.json
                #expect(body["id"] as? String == id.description)
                #expect(body["title"] as? String == "Kind of Blue")
                #expect(body["releaseYear"] as? Int == 1959)
                #expect(body["songCount"] as? Int == 2)
                #expect(body["totalDurationSeconds"] as? Int == 562)
                #expect(body["version"] as? Int == 1)
                let songs = body["songs"] as? [[String: Any]] ?? []
                #expect(songs.map { $0["trackNumber"] as? Int } == [1, 2])
                #expect(songs.first?["title"] as? String == "So What")
                #expect((body["createdAt"] as? String)?.hasSuffix("Z") == true)

                let again = try await client.get("/albums/\(id)", headers: [HTTPField.Name("If-None-Match")!: "\"1\""])
                #expect(again.status == .notModified)
                #expect(again.text.isEmpty)
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("with both replicas healthy, 1,000 reads reach the replicas only, as each node's pg_stat_statements counts them")
    func readsReachReplicasOnly() async throws {
        let catalog = try await ReadCatalog()
        var settings = try catalog.settings()
        // The shared cluster is busy with other suites: wide lag bounds keep a briefly slow replica in rotation,
        // since this test is about where healthy reads go.
        settings.policy.maxLagSeconds = 60
        settings.policy.maxLagBytes = 1 << 40
        do {
            try await catalog.run(settings) { client in
                let (id, token) = try await catalog.create("Counted")
                #expect(try await client.get("/albums/\(id)", headers: [.consistencyToken: token.description]).status == .ok)
                try await waitUntilReady(client, replicas: ["replica1", "replica2"])
                let before = try await catalog.albumReadCalls()
                var servedBy: [String: Int] = [:]
                var failures: [String: Int] = [:]
                for _ in 0..<1000 {
                    let reply = try await client.get("/albums/\(id)")
                    if reply.status != .ok { failures["\(reply.status.code) \(reply.text.prefix(200))", default: 0] += 1 }
                    servedBy[reply.header("Served-By") ?? "?", default: 0] += 1
                }
                #expect(failures.isEmpty, "failed reads: \(failures)")
                let after = try await catalog.albumReadCalls()
                let delta = after.merging(before) { $0 - $1 }
                // At most 0: an entry pg_stat_statements evicted (the first read, with its token, may
                // have run on the primary) counts as fewer calls afterwards, never more.
                #expect(delta["primary", default: 0] <= 0, "the primary ran the album read: \(delta)")
                #expect(delta["replica1", default: 0] + delta["replica2", default: 0] == 1000, "\(delta)")
                #expect(delta["replica1", default: 0] > 100 && delta["replica2", default: 0] > 100, "both replicas share the reads: \(delta)")
                #expect(servedBy == ["replica1": delta["replica1"] ?? 0, "replica2": delta["replica2"] ?? 0], "Served-By agrees: \(servedBy)")
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("200 write-then-read cycles carrying tokens: no stale answer")
    func noStaleReads() async throws {
        let catalog = try await ReadCatalog()
        do {
            try await catalog.run { client in
                let (id, _) = try await catalog.create("Cycles")
                var version = 1
                for cycle in 0..<200 {
                    let changed = AlbumEvent.detailsChanged(AlbumDetailsChanged(title: "Cycle \(cycle)", artist: "Miles Davis", releaseYear: 1959))
                    let result = try await catalog.store.append(to: id.uuid, expectedVersion: version, events: [changed.encoded()], metadata: .test)
                    version = result.version
                    let reply = try await client.get("/albums/\(id)", headers: [.consistencyToken: result.token.description])
                    #expect(reply.status == .ok, "\(reply.text)")
                    #expect(reply.json["version"] as? Int == version, "stale answer in cycle \(cycle) from \(reply.header("Served-By") ?? "?")")
                    #expect(reply.json["title"] as? String == "Cycle \(cycle)")
                }
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test(
        "unknown, archived, malformed: 404, 410, 400 (a token never issued too), 405, 503 for a token no node reaches yet; never a 5xx for client mistakes"
    )
    func errors() async throws {
        let catalog = try await ReadCatalog()
        var settings = try catalog.settings()
        settings.tokenBudget = .milliseconds(200)
        do {
            try await catalog.run(settings) { client in
                let unknown = try await client.get("/albums/\(UUID().uuidString.lowercased())")
                #expect(unknown.status == .notFound)
                #expect(unknown.header("Content-Type") == "application/problem+json")
                #expect(unknown.json["status"] as? Int == 404)

                let (id, token) = try await catalog.create("To archive")
                let archived = try await catalog.store.append(
                    to: id.uuid,
                    expectedVersion: 1,
                    events: [AlbumEvent.archived(AlbumArchived()).encoded()],
                    metadata: .test
                )
                let gone = try await client.get("/albums/\(id)", headers: [.consistencyToken: archived.token.description])
                #expect(gone.status == .gone, "\(gone.text)")
                _ = token

                for path in [
                    "/albums/not-a-uuid", "/albums/%00", "/albums/\(String(repeating: "a", count: 5000))",
                    "/albums/12345678-1234-1234-1234-1234567890123",
                ] {
                    let reply = try await client.get(path)
                    #expect(reply.status == .badRequest, "\(path)")
                }
                for bad in ["", "abc", "1.2.3", "-1.2", "01.2", "1.", "1.99999999999999999999999", "1 .2", "1.2; DROP TABLE"] {
                    let reply = try await client.get("/albums/\(id)", headers: [.consistencyToken: bad])
                    #expect(reply.status == .badRequest, "token \(bad)")
                }
                // A token of a transaction the primary has not started yet was never issued: the client's mistake.
                let forged = try await client.get("/albums/\(id)", headers: [.consistencyToken: "9223372036854775807.1"])
                #expect(forged.status == .badRequest, "\(forged.text)")
                #expect(forged.json["title"] as? String == "Invalid Consistency-Token")
                // A token of a real transaction that no event of this catalog follows yet: no node reaches it
                // within the budget, 503 with Retry-After.
                let transaction = try #require(try await catalog.writer.query("SELECT pg_current_xact_id()::text").first?.decode(String.self, at: 0))
                let unreached = try await client.get("/albums/\(id)", headers: [.consistencyToken: "\(transaction).1"])
                #expect(unreached.status == .serviceUnavailable, "\(unreached.text)")
                #expect(unreached.header("Retry-After") != nil)

                let post = try await client.execute(uri: "/albums/\(id)", method: .post, headers: [:], body: ByteBuffer(string: "{}")) { $0.status }
                #expect(post == .methodNotAllowed)
                let nowhere = try await client.get("/nowhere")
                #expect(nowhere.status == .notFound)

                let live = try await client.get("/health/live")
                #expect(live.status == .ok)
                let metrics = try await client.get("/metrics")
                #expect(metrics.status == .ok)

                // Read tables of an older shape than this version reads (the projector has not rebuilt them
                // yet): 503 with Retry-After, not a 500.
                try await ScratchDatabase.run(psql: try catalog.admin("primary"), "ALTER TABLE read_model.album_views DROP COLUMN document")
                // The album is archived: 410 until the change of shape has reached the node that answers.
                var older = try await client.get("/albums/\(id)")
                for _ in 0..<500 where older.status == .gone {
                    try await Task.sleep(for: .milliseconds(20))
                    older = try await client.get("/albums/\(id)")
                }
                #expect(older.status == .serviceUnavailable, "\(older.text)")
                #expect(older.header("Retry-After") == "5")
                #expect(older.json["detail"] as? String == "the read model is being rebuilt for this version (projections run does it)")
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }
}
