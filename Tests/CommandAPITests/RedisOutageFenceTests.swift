import ClusterHarness
import Domain
import EventStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Postgres
import Redis
import Synchronization
import Testing
import ViewCache

@testable import CommandAPI

/// Stopping Redis needs a cluster of its own.
@Suite struct RedisOutageFenceTests {
    @Test func fencesHeldByTheOutboxDuringARedisOutageAreAllDeliveredWhenItReturns() async throws {
        let cluster = try await ScratchCluster(name: "fence-outage", postgresPort: 25610, redisPort: 26387, replicas: 0)
        do {
            var owner = PostgresClient.Configuration(connectionString: try cluster.value("CATALOG_MIGRATOR_PRIMARY"))
            owner.poolSize = 1
            try await Migrations.migrate(try PostgresClient(configuration: owner))
            let redisURL = try cluster.value("CATALOG_REDIS")
            var settings = CommandAPISettings(primary: try cluster.value("CATALOG_PRIMARY"))
            settings.redis = redisURL
            settings.outboxPath = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID())/outbox.sqlite").path
            let cache = ViewCache(client: try RedisClient(configuration: try RedisClient.Configuration(url: redisURL)), logger: Logger(label: "test"))
            let app = try buildApplication(settings, logger: Logger(label: "command-api-test"))
            try await app.test(.router) { client in
                // Albums whose version-1 views readers have cached.
                var albums: [UUID] = []
                for _ in 0..<8 {
                    let created = try await client.send(.post, "/albums", json: kindOfBlue)
                    let id = try #require((created.json["id"] as? String).flatMap(UUID.init(uuidString:)))
                    albums.append(id)
                }
                let ids = albums
                #expect(try await within(.seconds(2)) { try await cache.fence(of: ids[7]) == 1 })
                for id in albums { #expect(await cache.fill(id, with: CachedView(state: .live, version: 1, asOf: .origin, document: "{}"))) }

                try await cluster.run("stop", "redis")
                let stopped = ContinuousClock.now
                let failures = try await withThrowingTaskGroup(of: Int.self) { group in
                    for writer in 0..<4 {
                        group.addTask {
                            var failures = 0
                            var round = 0
                            while ContinuousClock.now - stopped < .seconds(10) {
                                let id = ids[(writer + round * 4) % ids.count].uuidString.lowercased()
                                let reply = try await client.send(.patch, "/albums/\(id)", json: #"{"title":"Outage \#(writer)-\#(round)"}"#)
                                if reply.status != .ok { failures += 1 }
                                round += 1
                            }
                            return failures
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(failures == 0, "commands failed while Redis was down")
                let backlog = try await client.send(.get, "/health/ready")
                let undelivered = (backlog.json["outbox"] as? [String: Any])?["undelivered"] as? Int ?? 0
                #expect(undelivered > 0, "the outbox holds the fences")

                try await cluster.run("start", "redis")
                let started = ContinuousClock.now
                let drained = try await within(.seconds(15)) {
                    let ready = try await client.send(.get, "/health/ready")
                    return (ready.json["outbox"] as? [String: Any])?["undelivered"] as? Int == 0
                }
                #expect(drained)
                // The relay retries every 250 ms at most; once Redis answers the backlog goes in a few round trips.
                #expect(ContinuousClock.now - started < .seconds(1), "drained in \(ContinuousClock.now - started)")

                // The checker: every album's fence is its version on the primary, and no cached view is below it.
                let store = EventStore(client: try PostgresClient(configuration: .init(connectionString: try cluster.value("CATALOG_PRIMARY"))))
                for id in ids {
                    let version = try await store.readStream(id).count
                    #expect(try await cache.fence(of: id) == version, "album \(id)")
                    if case .hit(let view) = await cache.lookup(id, token: nil) {
                        Issue.record("a cached view of \(id) at version \(view.version) is below its fence \(version)")
                    }
                }
            }
        } catch {
            await cluster.destroy()
            throw error
        }
        await cluster.destroy()
    }
}
