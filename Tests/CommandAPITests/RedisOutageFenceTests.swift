import ClusterHarness
import Domain
import EventLog
import Foundation
import HotViews
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Postgres
import Redis
import Synchronization
import Testing

@testable import CommandAPI

/// Stopping Redis needs a cluster of its own.
@Suite(Cluster.needed) struct RedisOutageFenceTests {
    @Test func fencesHeldByTheOutboxDuringARedisOutageAreAllDeliveredWhenItReturns() async throws {
        let cluster = try await ScratchCluster(name: "fence-outage", postgresPort: 25610, redisPort: 26387, replicas: 0)
        do {
            var owner = PostgresClient.Configuration(connectionString: try cluster.value("CATALOG_MIGRATOR_PRIMARY"))
            owner.poolSize = 1
            try await CatalogSchema.migrate(try PostgresClient(configuration: owner))
            let redisURL = try cluster.value("CATALOG_REDIS")
            var settings = CommandAPISettings(primary: try cluster.value("CATALOG_PRIMARY"))
            settings.redis = redisURL
            settings.outboxPath = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID())/outbox.sqlite").path
            let cache = ViewCache(client: try RedisClient(configuration: try RedisClient.Configuration(url: redisURL)), logger: Logger(label: "test"))
            // Readers as in production: projections and query-api (no replicas here: it reads the primary,
            // and fills Redis through the fences) running beside the writers, before, during and after the outage.
            let logs = FileManager.default.temporaryDirectory.appendingPathComponent("fence-outage-\(UUID())").path
            let projector = try BackgroundProcess(
                try Cluster.executable("projections"),
                arguments: ["run"],
                environment: ["CATALOG_PROJECTOR_PRIMARY": try cluster.value("CATALOG_PROJECTOR_PRIMARY")],
                logPath: logs + "-projections.log"
            )
            let queryPort = try freePort()
            let query = try BackgroundProcess(
                try Cluster.executable("query-api"),
                arguments: [],
                environment: [
                    "CATALOG_QUERY_PRIMARY": try cluster.value("CATALOG_QUERY_PRIMARY"), "CATALOG_REPLICAS": "", "CATALOG_REDIS": redisURL,
                    "CATALOG_QUERY_REDIS": redisURL,
                    "CATALOG_QUERY_ADDR": "127.0.0.1:\(queryPort)",
                ],
                logPath: logs + "-query-api.log"
            )
            defer {
                for process in [projector, query] { process.signal(SIGKILL) }
            }
            #expect(try await within(.seconds(30)) { (try? await FenceTests.get(port: queryPort, "/health/live")) == 200 }, "\(query.output)")
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
                #expect(try await within(.seconds(10)) { try await cache.fence(of: ids[7]) == 1 })
                for id in albums {
                    #expect(await cache.fill(id, with: CachedView(state: .live, version: 1, asOf: .origin, document: ByteBuffer(string: "{}"))))
                }

                // The projector has made the read tables and projected every album.
                let projected = try await within(.seconds(30)) {
                    for id in ids where (try? await FenceTests.get(port: queryPort, "/albums/\(id.uuidString.lowercased())")) != 200 { return false }
                    return true
                }
                #expect(projected, "\(projector.output)")
                let reading = Atomic<Bool>(true)
                let readers = Task {
                    var statuses: [Int: Int] = [:]
                    while reading.load(ordering: .relaxed) {
                        for id in ids {
                            let status = (try? await FenceTests.get(port: queryPort, "/albums/\(id.uuidString.lowercased())")) ?? 0
                            statuses[status, default: 0] += 1
                        }
                    }
                    return statuses
                }

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
                // The relay retries every 250 ms at most; once Redis answers the backlog goes in a few round
                // trips (loose: the machine is loaded by the whole suite).
                #expect(ContinuousClock.now - started < .seconds(5), "drained in \(ContinuousClock.now - started)")

                // Reads go on for a while after the outage, so that query-api caches views again.
                try await Task.sleep(for: .seconds(2))
                reading.store(false, ordering: .relaxed)
                let statuses = await readers.value
                #expect(statuses.keys.sorted() == [200], "every read succeeded, through the outage too: \(statuses)")

                // The checker: every album's fence is its version in the event store, and every view cached in
                // Redis is at or above its fence and agrees with the primary's read model (never ahead of it,
                // the same JSON at the same version).
                let store = EventStore(client: try PostgresClient(configuration: .init(connectionString: try cluster.value("CATALOG_PRIMARY"))))
                let readModel = try PostgresClient(configuration: .init(connectionString: try cluster.value("CATALOG_QUERY_PRIMARY")))
                var cached = 0
                for id in ids {
                    let version = try await store.readStream(id).count
                    #expect(try await cache.fence(of: id) == version, "album \(id)")
                    guard case .hit(let view) = await cache.lookup(id, token: nil) else { continue }
                    cached += 1
                    #expect(view.version >= version, "a cached view of \(id) at version \(view.version) is below its fence \(version)")
                    let row = try #require(
                        try await readModel.query("SELECT version, document FROM read_model.album_views WHERE id = \(id)").first
                    )
                    let projected = try row.decode(Int.self, at: 0)
                    #expect(view.version <= projected, "the cached view of \(id) is ahead of the read model")
                    if view.version == projected {
                        #expect(
                            String(buffer: view.document) == (try row.decode(String.self, at: 1)),
                            "the cached view of \(id) differs from the read model"
                        )
                    }
                }
                #expect(cached > 0, "query-api cached views again after the outage")
                await readModel.shutdown()
            }
        } catch {
            await cluster.destroy()
            throw error
        }
        await cluster.destroy()
    }
}
