import ClusterHarness
import Domain
import EventStore
import Foundation
import Postgres

func client(_ variable: String, poolSize: Int = 4) throws -> PostgresClient {
    var configuration = PostgresClient.Configuration(connectionString: try Cluster.value(variable))
    configuration.poolSize = poolSize
    configuration.checkoutTimeout = .seconds(30)
    return try PostgresClient(configuration: configuration)
}

/// The event store as the writer role sees it, after the migrations have run (as the owner).
func writerStore(poolSize: Int = 4) async throws -> EventStore {
    try await Migrations.migrate(try client("CATALOG_MIGRATOR_PRIMARY", poolSize: 1))
    return EventStore(client: try client("CATALOG_PRIMARY", poolSize: poolSize))
}

/// The store as the projector reads it.
func projectorStore() async throws -> EventStore {
    try await Migrations.migrate(try client("CATALOG_MIGRATOR_PRIMARY", poolSize: 1))
    return EventStore(client: try client("CATALOG_PROJECTOR_PRIMARY"))
}

func sampleEvent(_ title: String = "Kind of Blue") -> EncodedEvent {
    AlbumEvent.created(AlbumCreated(title: title, artist: "Miles Davis", releaseYear: 1959, songs: [])).encoded()
}

func renamed(_ title: String) -> EncodedEvent {
    AlbumEvent.detailsChanged(AlbumDetailsChanged(title: title, artist: "Miles Davis", releaseYear: nil)).encoded()
}
