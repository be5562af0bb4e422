import ClusterHarness
import Foundation
import HummingbirdTesting
import Logging
import Redis
import Testing
import ViewCache

@testable import CommandAPI

@Suite struct FenceTests {
    /// Each committed command raises its album's fence in Redis to the new version before it answers,
    /// which removes a cached view below it.
    @Test func aCommittedCommandRaisesItsAlbumsFenceBeforeItAnswers() async throws {
        var cacheConfiguration = ViewCache.Configuration()
        cacheConfiguration.keyPrefix = "test:\(UInt32.random(in: 0...UInt32.max))"
        let redis = try Cluster.value("CATALOG_REDIS")
        let cache = ViewCache(
            client: try RedisClient(configuration: try RedisClient.Configuration(url: redis)),
            configuration: cacheConfiguration,
            logger: Logger(label: "test")
        )
        try await withCommandAPI(redis: redis, cache: cacheConfiguration) { client in
            let created = try await client.send(.post, "/albums", json: kindOfBlue)
            #expect(created.status == .created)
            let id = try #require((created.json["id"] as? String).flatMap(UUID.init(uuidString:)))
            #expect(try await cache.fence(of: id) == 1)
            // A view of version 1 cached by a reader; the next command's fence removes it.
            #expect(await cache.fill(id, with: CachedView(state: .live, version: 1, asOf: .origin, document: "{}")))
            let changed = try await client.send(.patch, "/albums/\(id.uuidString.lowercased())", json: #"{"title":"Kind of Blue (Legacy)"}"#)
            #expect(changed.status == .ok)
            #expect(try await cache.fence(of: id) == 2)
            #expect(await cache.lookup(id, token: nil) == .miss)
        }
    }

    /// With Redis unreachable a command still succeeds (its fence is counted as undelivered).
    @Test func commandsSucceedWhileRedisIsUnreachable() async throws {
        try await withCommandAPI(redis: "redis://127.0.0.1:1") { client in
            let started = ContinuousClock.now
            let created = try await client.send(.post, "/albums", json: kindOfBlue)
            #expect(created.status == .created)
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }
}
