import Authentication
import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import HTTPTypes
import HotViews
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Postgres
import Redis

@testable import CommandAPI

/// A parsed response: status, headers and the JSON body.
struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
    var version: Int? { json["version"] as? Int }
    var id: String? { json["id"] as? String }
    var token: ConsistencyToken? { headers[HTTPField.Name("Consistency-Token")!].flatMap(ConsistencyToken.init) }
    var problemFields: [String] { (json["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? [] }
}

extension TestClientProtocol {
    func send(_ method: HTTPRequest.Method, _ uri: String, json: String? = nil, headers: HTTPFields = [:]) async throws -> Reply {
        var headers = headers
        if json != nil && headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) }) { response in
            Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
    }
}

func migrate() async throws {
    var configuration = PostgresClient.Configuration(connectionString: try Cluster.value("CATALOG_MIGRATOR_PRIMARY"))
    configuration.poolSize = 1
    // Migrations wait for each other on an advisory lock (see catalog-migrate's two minutes).
    configuration.queryTimeout = .seconds(120)
    try await CatalogSchema.migrate(try PostgresClient(configuration: configuration))
}

/// Runs `body` against the service built exactly as `command-api` builds it, on the main cluster.
func withCommandAPI<Value: Sendable>(
    primary: String? = nil,
    queryTimeout: Duration = .seconds(5),
    redis: String? = nil,
    cache: ViewCache.Configuration = .init(),
    outboxPath: String? = nil,
    verifier: TokenVerifier? = nil,
    metricsOpen: Bool = true,
    _ body: @Sendable (any TestClientProtocol) async throws -> Value
) async throws -> Value {
    try await migrate()
    var settings = CommandAPISettings(primary: try primary ?? Cluster.value("CATALOG_PRIMARY"))
    settings.poolSize = 16
    settings.queryTimeout = queryTimeout
    settings.connectTimeout = .seconds(2)
    settings.redis = redis
    settings.cache = cache
    settings.verifier = verifier
    settings.metricsOpen = metricsOpen
    settings.outboxPath = outboxPath ?? FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID())/outbox.sqlite").path
    let app = try buildApplication(settings, logger: Logger(label: "command-api-test"))
    return try await app.test(.router, body)
}

let kindOfBlue =
    #"{"title":"Kind of Blue","artist":"Miles Davis","releaseYear":1959,"songs":[{"title":"So What","durationSeconds":562},{"title":"Freddie Freeloader"}]}"#

/// A view cache on the main cluster's Redis, with keys of its own.
func testCache() throws -> (ViewCache, ViewCache.Configuration, String) {
    var configuration = ViewCache.Configuration()
    configuration.keyPrefix = "test:\(UInt32.random(in: 0...UInt32.max))"
    let url = try Cluster.value("CATALOG_REDIS")
    var redis = try RedisClient.Configuration(url: url)
    // Generous bounds while the whole suite starts on two cores.
    (redis.connectTimeout, redis.commandTimeout) = (.seconds(10), .seconds(10))
    let cache = ViewCache(
        client: try RedisClient(configuration: redis),
        configuration: configuration,
        logger: Logger(label: "test")
    )
    return (cache, configuration, url)
}

/// The album's song ids in track order, folded from its events by the Domain.
func songIDs(_ albumID: String) async throws -> [String] {
    let client = try PostgresClient(configuration: .init(connectionString: try Cluster.value("CATALOG_PRIMARY")))
    let id = AlbumID(UUID(uuidString: albumID)!)
    let events = try await EventStore(client: client).readStream(id.uuid).map { try AlbumEvent(decoding: $0.event) }
    return Album.fold(id: id, events: events)?.songs.map(\.id.description) ?? []
}

func recordedEvents(_ albumID: String) async throws -> [RecordedEvent] {
    let client = try PostgresClient(configuration: .init(connectionString: try Cluster.value("CATALOG_PRIMARY")))
    return try await EventStore(client: client).readStream(UUID(uuidString: albumID)!)
}

func streamVersions(_ albumID: String) async throws -> [Int] {
    let client = try PostgresClient(configuration: .init(connectionString: try Cluster.value("CATALOG_PRIMARY")))
    return try await EventStore(client: client).readStream(UUID(uuidString: albumID)!).map(\.version)
}
