import ClusterHarness
import EventLog
import FenceOutbox
import Foundation
import HTTPTypes
import HotViews
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Postgres
import Redis
import Testing

@testable import CommandAPI

@Suite(Cluster.needed) struct PrimaryOutageTests {
    @Test func commandsGet503WithRetryAfterWhileThePrimaryIsDownAndSucceedAfterItsBack() async throws {
        let cluster = try await ScratchCluster(name: "command-outage", postgresPort: 25580, redisPort: 26384, replicas: 0)
        var owner = PostgresClient.Configuration(connectionString: try cluster.value("CATALOG_MIGRATOR_PRIMARY"))
        owner.poolSize = 1
        try await CatalogSchema.migrate(try PostgresClient(configuration: owner))
        var settings = CommandAPISettings(primary: try cluster.value("CATALOG_PRIMARY"))
        settings.connectTimeout = .seconds(2)
        settings.queryTimeout = .seconds(2)
        // The outbox on: a command whose outcome the primary's outage leaves unknown stays pending, and
        // is settled (here aborted) by asking the primary once it is back.
        settings.redis = try cluster.value("CATALOG_REDIS")
        settings.outboxPath = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID())/outbox.sqlite").path
        settings.relay.orphanAge = 1
        let cache = ViewCache(
            client: try RedisClient(configuration: try RedisClient.Configuration(url: try cluster.value("CATALOG_REDIS"))),
            logger: Logger(label: "test")
        )
        let app = try buildApplication(settings, logger: Logger(label: "command-api-test"))
        try await app.test(.router) { client in
            let created = try await client.send(.post, "/albums", json: kindOfBlue)
            #expect(created.status == .created)
            let id = try #require((created.json["id"] as? String).flatMap(UUID.init(uuidString:)))
            #expect(try await within(.seconds(10)) { try await cache.fence(of: id) == 1 })
            try await cluster.run("stop", "primary")
            for attempt in 0..<3 {
                let started = ContinuousClock.now
                let reply =
                    attempt == 0
                    ? try await client.send(.patch, "/albums/\(id.uuidString.lowercased())", json: #"{"title":"Never"}"#)
                    : try await client.send(.post, "/albums", json: kindOfBlue)
                #expect(reply.status == .serviceUnavailable, "\(reply.text)")
                #expect(reply.headers[.retryAfter] == "1")
                #expect(!reply.text.contains("password"))
                #expect(!reply.text.contains("127.0.0.1"))
                #expect(ContinuousClock.now - started < .seconds(10))
            }
            #expect(try await client.send(.get, "/health/ready").status == .serviceUnavailable)
            try await cluster.run("start", "primary")
            #expect(try await client.send(.post, "/albums", json: kindOfBlue).status == .created)
            #expect(try await client.send(.get, "/health/ready").status == .ok)
            // The command refused during the outage never committed: its intent is settled as aborted,
            // the fence stays at the committed version, and a view of that version is still stored.
            let settled = try await within(.seconds(10)) {
                let ready = try await client.send(.get, "/health/ready")
                return (ready.json["outbox"] as? [String: Any])?["undelivered"] as? Int == 0
            }
            #expect(settled, "the unknown outcome is settled")
            #expect(try await cache.fence(of: id) == 1)
            let view = CachedView(state: .live, version: 1, asOf: .origin, document: ByteBuffer(string: "{}"))
            #expect(await cache.fill(id, with: view))
            #expect(await cache.lookup(id, token: nil) == .hit(view))
        }
        await cluster.destroy()
    }
}
