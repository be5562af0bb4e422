import ClusterHarness
import Domain
import EventLog
import Foundation
import Postgres

func client(_ variable: String, poolSize: Int = 4) throws -> PostgresClient {
    var configuration = PostgresClient.Configuration(connectionString: try Cluster.value(variable))
    configuration.poolSize = poolSize
    configuration.checkoutTimeout = .seconds(30)
    // Migrations wait for each other on an advisory lock, and the first may be slow while the whole suite
    // starts at once: as catalog-migrate does, the migrator's statements may take up to two minutes.
    if variable == "CATALOG_MIGRATOR_PRIMARY" { configuration.queryTimeout = .seconds(120) }
    return try PostgresClient(configuration: configuration)
}

/// A client on any conninfo (a scratch database's), with the migrator's generous query timeout.
func client(conninfo: String, poolSize: Int) throws -> PostgresClient {
    var configuration = PostgresClient.Configuration(connectionString: conninfo)
    configuration.poolSize = poolSize
    configuration.checkoutTimeout = .seconds(30)
    configuration.queryTimeout = .seconds(120)
    return try PostgresClient(configuration: configuration)
}

extension AppendError {
    /// Which case, without its associated values: an `#expect(throws: AppendError.self)` alone accepts any.
    var isVersionConflict: Bool {
        if case .versionConflict = self { return true }
        return false
    }

    var isIdempotencyKeyReused: Bool {
        if case .idempotencyKeyReused = self { return true }
        return false
    }
}

/// The event store as the writer role sees it, after the migrations have run (as the owner).
func writerStore(poolSize: Int = 4) async throws -> EventStore {
    try await CatalogSchema.migrate(try client("CATALOG_MIGRATOR_PRIMARY", poolSize: 1))
    return EventStore(client: try client("CATALOG_PRIMARY", poolSize: poolSize))
}

/// The store as the projector reads it.
func projectorStore() async throws -> EventStore {
    try await CatalogSchema.migrate(try client("CATALOG_MIGRATOR_PRIMARY", poolSize: 1))
    return EventStore(client: try client("CATALOG_PROJECTOR_PRIMARY"))
}

func sampleEvent(_ title: String = "Kind of Blue") -> EncodedEvent {
    AlbumEvent.created(AlbumCreated(title: title, artist: "Miles Davis", releaseYear: 1959, songs: [])).encoded()
}

func renamed(_ title: String) -> EncodedEvent {
    AlbumEvent.detailsChanged(AlbumDetailsChanged(title: title, artist: "Miles Davis", releaseYear: nil)).encoded()
}
