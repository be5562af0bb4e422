import ClusterHarness
import Foundation
import HotViews
import Logging
import Redis
import Synchronization
import Testing

@testable import FenceOutbox

/// A fresh outbox file in a directory of its own.
func scratchOutbox() throws -> (Outbox, String) {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID())/outbox.sqlite").path
    return (try Outbox(path: path, logger: Logger(label: "test")), path)
}

func testCache() throws -> ViewCache {
    var configuration = ViewCache.Configuration()
    configuration.keyPrefix = "test:\(UInt32.random(in: 0...UInt32.max))"
    var redis = try RedisClient.Configuration(url: try Cluster.value("CATALOG_REDIS"))
    // Generous bounds while the whole suite starts on two cores.
    (redis.connectTimeout, redis.commandTimeout) = (.seconds(10), .seconds(10))
    return ViewCache(client: try RedisClient(configuration: redis), configuration: configuration, logger: Logger(label: "test"))
}

/// Album versions as a fake primary reports them.
final class Versions: Sendable {
    let values = Mutex<[UUID: Int]>([:])
    func set(_ album: UUID, _ version: Int) { values.withLock { $0[album] = version } }
    func of(_ album: UUID) -> Int { values.withLock { $0[album] ?? 0 } }
}

@Suite("Outbox")
struct OutboxTests {
    @Test("intents move from pending to delivered or aborted; the file is WAL with synchronous=FULL")
    func states() async throws {
        let (outbox, _) = try scratchOutbox()
        let album = UUID()
        let first = try await outbox.record(album: album, version: 1)
        let second = try await outbox.record(album: album, version: 2)
        outbox.markCommitted(first)
        try await outbox.markAborted(second)
        // A committed mark is kept in memory: on disk the intent stays pending until delivered.
        var intents = try await outbox.all()
        #expect(intents.map(\.state) == [.pending, .aborted])
        #expect(intents.map(\.version) == [1, 2])
        #expect(intents.allSatisfy { $0.album == album && $0.boot == outbox.boot })
        #expect(try await outbox.deliverableIntents(limit: 10) == [first])
        #expect(try await outbox.backlog().count == 1)
        // Waiting for delivery, it is not an orphan however old.
        #expect(try await outbox.orphanedIntents(olderThan: -1, limit: 10).isEmpty)
        try await outbox.markDelivered([first])
        intents = try await outbox.all()
        #expect(intents.map(\.state) == [.delivered, .aborted])
        #expect(try await outbox.deliverableIntents(limit: 10).isEmpty)
        #expect(try await outbox.backlog().count == 0)
        let pragmas = try await outbox.database.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
        #expect(pragmas.0 == "wal")
        #expect(pragmas.1 == 2, "synchronous=FULL")
        // Done intents are pruned once old enough.
        #expect(try await outbox.prune(olderThan: 3600) == 0)
        #expect(try await outbox.prune(olderThan: -1) == 2)
        #expect(try await outbox.all().isEmpty)
    }

    @Test("200 concurrent commands share SQLite commits and each gets its own intent")
    func groupCommit() async throws {
        let (outbox, _) = try scratchOutbox()
        let ids = try await withThrowingTaskGroup(of: Outbox.Ticket.self) { group in
            for version in 1...200 { group.addTask { try await outbox.record(album: UUID(), version: version) } }
            return try await group.reduce(into: [Int64]()) { $0.append($1.id) }
        }
        #expect(Set(ids).count == 200)
        #expect(try await outbox.all().count == 200)
        // Fewer transactions than intents: commits were shared.
        #expect(outbox.transactions.load(ordering: .relaxed) < 200, "\(outbox.transactions.load(ordering: .relaxed)) transactions")
    }

    @Test("a pending intent left by an earlier run is an orphan; one of this run only once old enough")
    func orphans() async throws {
        let (earlier, path) = try scratchOutbox()
        _ = try await earlier.record(album: UUID(), version: 3)
        let restarted = try Outbox(path: path, logger: Logger(label: "test"))
        let fresh = try await restarted.record(album: UUID(), version: 1)
        let orphans = try await restarted.orphanedIntents(olderThan: 60, limit: 10)
        #expect(orphans.map(\.version) == [3])
        #expect(try await restarted.orphanedIntents(olderThan: -1, limit: 10).map(\.id).contains(fresh.id))
    }
}

@Suite("Outbox relay", Cluster.needed)
struct OutboxRelayTests {
    @Test("committed intents become fences in Redis at once; aborted ones never do")
    func delivers() async throws {
        let (outbox, _) = try scratchOutbox()
        let cache = try testCache()
        let versions = Versions()
        // A poll a minute apart: delivery within seconds can only come from the commit's wake-up.
        var configuration = OutboxRelay.Configuration()
        configuration.pollInterval = .seconds(60)
        let relay = OutboxRelay(outbox: outbox, cache: cache, configuration: configuration, logger: Logger(label: "test")) { versions.of($0) }
        let (delivered, failed) = (UUID(), UUID())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await relay.run() }
            let started = ContinuousClock.now
            let intent = try await outbox.record(album: delivered, version: 4)
            outbox.markCommitted(intent)
            while try await cache.fence(of: delivered) != 4 {
                guard ContinuousClock.now - started < .seconds(30) else { break }
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(try await cache.fence(of: delivered) == 4)
            #expect(ContinuousClock.now - started < .seconds(20), "delivered at once, not at the next poll")
            let refused = try await outbox.record(album: failed, version: 9)
            try await outbox.markAborted(refused)
            // A committed intent recorded after the aborted one: once the relay has delivered it, it has been
            // through the outbox past the aborted one, and had its chance to fence that album.
            let later = UUID()
            outbox.markCommitted(try await outbox.record(album: later, version: 1))
            #expect(try await within(.seconds(20)) { try await cache.fence(of: later) == 1 }, "the relay delivered the later intent")
            #expect(try await cache.fence(of: failed) == 0, "a failed command's intent never fences its album")
            group.cancelAll()
        }
        #expect(try await outbox.all().map(\.state) == [.delivered, .aborted, .delivered])
    }

    @Test("an orphan is settled by the primary's version: committed and delivered when reached, else aborted")
    func settlesOrphans() async throws {
        let (earlier, path) = try scratchOutbox()
        let (reached, missed) = (UUID(), UUID())
        _ = try await earlier.record(album: reached, version: 2)
        _ = try await earlier.record(album: missed, version: 5)
        let outbox = try Outbox(path: path, logger: Logger(label: "test"))
        let cache = try testCache()
        let versions = Versions()
        versions.set(reached, 3)
        versions.set(missed, 4)
        let relay = OutboxRelay(outbox: outbox, cache: cache, logger: Logger(label: "test")) { versions.of($0) }
        try await relay.settleOrphans()
        try await relay.deliverCommitted()
        #expect(try await cache.fence(of: reached) == 2)
        #expect(try await cache.fence(of: missed) == 0)
        #expect(try await outbox.all().map(\.state) == [.delivered, .aborted])
    }

    @Test("while Redis refuses, committed intents wait (backlog and age grow); then they are delivered")
    func redisDown() async throws {
        let (outbox, _) = try scratchOutbox()
        var unreachable = RedisClient.Configuration(host: "127.0.0.1", port: 1)
        unreachable.connectTimeout = .milliseconds(100)
        let down = ViewCache(client: try RedisClient(configuration: unreachable), logger: Logger(label: "test"))
        let stuck = OutboxRelay(outbox: outbox, cache: down, logger: Logger(label: "test")) { _ in 0 }
        let album = UUID()
        for version in 1...3 {
            let intent = try await outbox.record(album: album, version: version)
            outbox.markCommitted(intent)
        }
        await #expect(throws: RedisError.self) { try await stuck.deliverCommitted() }
        try await Task.sleep(for: .milliseconds(50))
        let (count, oldest) = try await outbox.backlog()
        #expect(count == 3 && oldest > 0.04)
        let cache = try testCache()
        let relay = OutboxRelay(outbox: outbox, cache: cache, logger: Logger(label: "test")) { _ in 0 }
        #expect(try await relay.deliverCommitted() == 3)
        #expect(try await cache.fence(of: album) == 3)
        #expect(try await outbox.backlog().count == 0)
    }
}
