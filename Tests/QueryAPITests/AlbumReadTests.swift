import ClusterHarness
import Domain
import EventStore
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

/// A scratch catalog with a projector running in this process, and query-api over its replicas.
final class ReadCatalog: Sendable {
    let database: ScratchDatabase
    let writer: PostgresClient
    let projector: PostgresClient
    let store: EventStore

    init() async throws {
        database = try await ScratchDatabase("query")
        let owner = try Self.client(database.conninfo("CATALOG_MIGRATOR_PRIMARY"))
        try await Migrations.migrate(owner)
        await owner.shutdown()
        writer = try Self.client(database.conninfo("CATALOG_PRIMARY"))
        projector = try Self.client(database.conninfo("CATALOG_PROJECTOR_PRIMARY"))
        store = EventStore(client: writer)
    }

    static func client(_ conninfo: String) throws -> PostgresClient {
        var configuration = PostgresClient.Configuration(connectionString: conninfo)
        configuration.poolSize = 4
        return try PostgresClient(configuration: configuration)
    }

    func settings() throws -> QueryAPISettings {
        var settings = QueryAPISettings(replicas: try database.replicas(), primary: try database.conninfo("CATALOG_QUERY_PRIMARY"))
        settings.healthCheckInterval = .milliseconds(50)
        // Tests in other databases of the cluster hold the cluster-wide commit-safe horizon back at times
        // (open transactions), which delays the projector; the tokens still must be met, only later.
        settings.tokenBudget = .seconds(15)
        return settings
    }

    func close() async {
        await writer.shutdown()
        await projector.shutdown()
        await database.drop()
    }

    /// Runs the projector and query-api (through HummingbirdTesting's router client) while `body` runs.
    func run(_ settings: QueryAPISettings? = nil, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        var runnerConfiguration = ProjectionRunner.Configuration()
        runnerConfiguration.pollInterval = .milliseconds(5)
        let runner = ProjectionRunner(
            projection: AlbumsProjection(),
            client: projector,
            configuration: runnerConfiguration,
            logger: Logger(label: "test")
        )
        let app = try buildApplication(try settings ?? self.settings(), logger: Logger(label: "query-api-test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.run() }
            defer { group.cancelAll() }
            // The projector creates the read tables when it first leads; wait until every node has them.
            for conninfo in try [database.conninfo("CATALOG_QUERY_PRIMARY")] + database.replicas().map(\.conninfo) {
                let reader = try Self.client(conninfo)
                for _ in 0..<400 {
                    let rows = try await reader.query("SELECT to_regclass('read_model.album_views') IS NOT NULL")
                    if try rows.first?.decode(Bool.self, at: 0) == true { break }
                    try await Task.sleep(for: .milliseconds(25))
                }
                await reader.shutdown()
            }
            try await app.test(.live) { client in try await body(client) }
        }
    }

    func create(_ title: String, songs: [(String, Int?)] = []) async throws -> (AlbumID, ConsistencyToken) {
        let id = AlbumID()
        let created = AlbumCreated(
            title: title,
            artist: "Miles Davis",
            releaseYear: 1959,
            songs: songs.map { Song(id: SongID(), title: $0.0, durationSeconds: $0.1) }
        )
        let result = try await store.append(to: id.uuid, expectedVersion: 0, events: [AlbumEvent.created(created).encoded()])
        return (id, result.token)
    }
}

@Suite("query-api album reads", .serialized)
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

    @Test("200 write-then-read cycles carrying tokens: no stale answer")
    func noStaleReads() async throws {
        let catalog = try await ReadCatalog()
        do {
            try await catalog.run { client in
                let (id, _) = try await catalog.create("Cycles")
                var version = 1
                for cycle in 0..<200 {
                    let changed = AlbumEvent.detailsChanged(AlbumDetailsChanged(title: "Cycle \(cycle)", artist: "Miles Davis", releaseYear: 1959))
                    let result = try await catalog.store.append(to: id.uuid, expectedVersion: version, events: [changed.encoded()])
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

    @Test("unknown, archived, malformed: 404, 410, 400, 405, 503 for a token no node reaches; never a 5xx for client mistakes")
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
                    events: [AlbumEvent.archived(AlbumArchived()).encoded()]
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
                let future = try await client.get("/albums/\(id)", headers: [.consistencyToken: "9223372036854775807.1"])
                #expect(future.status == .serviceUnavailable)
                #expect(future.header("Retry-After") != nil)

                let post = try await client.execute(uri: "/albums/\(id)", method: .post, headers: [:], body: ByteBuffer(string: "{}")) { $0.status }
                #expect(post == .methodNotAllowed)
                let nowhere = try await client.get("/nowhere")
                #expect(nowhere.status == .notFound)

                let live = try await client.get("/health/live")
                #expect(live.status == .ok)
                let metrics = try await client.get("/metrics")
                #expect(metrics.status == .ok)
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }
}
