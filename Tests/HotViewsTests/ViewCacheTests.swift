import CatalogCore
import ClusterHarness
import EventLog
import Foundation
import Logging
import NIOCore
import Redis
import Synchronization
import Testing

@testable import HotViews

func token(_ transaction: UInt64, _ position: Int64 = 1) -> ConsistencyToken {
    ConsistencyToken(transaction: transaction, position: position)
}

func live(_ version: Int, at asOf: ConsistencyToken, _ document: String = #"{"v":1}"#) -> CachedView {
    CachedView(state: .live, version: version, asOf: asOf, document: ByteBuffer(string: document))
}

@Suite("Circuit breaker")
struct CircuitBreakerTests {
    @Test("opens after the threshold, lets one probe through after the interval, closes on its success")
    func transitions() {
        var breaker = CircuitBreaker(failureThreshold: 2, openInterval: .seconds(1))
        let start = ContinuousClock.now
        var allowed: Bool
        allowed = breaker.allow(at: start)
        #expect(allowed)
        breaker.recordFailure(at: start)
        allowed = breaker.allow(at: start)
        #expect(allowed, "one failure is below the threshold")
        breaker.recordSuccess()
        breaker.recordFailure(at: start)
        #expect(breaker.isClosed, "a success in between starts the count again")
        breaker.recordFailure(at: start)
        #expect(!breaker.isClosed)
        allowed = breaker.allow(at: start + .milliseconds(999))
        #expect(!allowed)
        allowed = breaker.allow(at: start + .seconds(1))
        #expect(allowed, "the probe")
        allowed = breaker.allow(at: start + .seconds(1))
        #expect(!allowed, "only one probe at a time")
        breaker.recordFailure(at: start + .seconds(1))
        allowed = breaker.allow(at: start + .milliseconds(1500))
        #expect(!allowed, "a failed probe opens it again")
        allowed = breaker.allow(at: start + .seconds(2))
        #expect(allowed)
        breaker.recordSuccess()
        allowed = breaker.allow(at: start + .seconds(2))
        #expect(breaker.isClosed && allowed)
    }
}

@Suite("Single flight")
struct SingleFlightTests {
    @Test("200 concurrent calls for one key run the body once; another key runs its own")
    func oneExecution() async throws {
        let flight = SingleFlight<String, Int>()
        let runs = RunCount()
        let gate = AsyncStream<Void>.makeStream()
        let results = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for _ in 0..<200 {
                group.addTask {
                    let (value, leader) = try await flight.run("album") {
                        runs.value.add(1, ordering: .relaxed)
                        for await _ in gate.stream {}
                        return 42
                    }
                    return (value, leader)
                }
            }
            // Every caller has joined the one flight before the shared work finishes.
            let joined = try await within(.seconds(20)) { flight.callers(of: "album") == 200 }
            #expect(joined, "all 200 callers share the one flight")
            #expect(flight.count == 1)
            gate.continuation.finish()
            return try await group.reduce(into: [(Int, Bool)]()) { $0.append($1) }
        }
        #expect(runs.value.load(ordering: .relaxed) == 1)
        #expect(results.allSatisfy { $0.0 == 42 })
        #expect(results.filter(\.1).count == 1)
        #expect(flight.count == 0)
        let (other, leader) = try await flight.run("another") { 7 }
        #expect(other == 7 && leader)
    }
}

final class RunCount: Sendable {
    let value = Atomic<Int>(0)
}

@Suite("View cache on Redis", Cluster.needed)
struct ViewCacheTests {
    func cache(_ configure: (inout ViewCache.Configuration) -> Void = { _ in }) throws -> ViewCache {
        var redis = try RedisClient.Configuration(url: try Cluster.value("CATALOG_REDIS"))
        // These tests are about the scripts, not timing: generous bounds while the whole suite starts.
        (redis.connectTimeout, redis.commandTimeout) = (.seconds(10), .seconds(10))
        var configuration = ViewCache.Configuration()
        configuration.keyPrefix = "test:\(UInt32.random(in: 0...UInt32.max))"
        configure(&configuration)
        return ViewCache(client: try RedisClient(configuration: redis), configuration: configuration, logger: Logger(label: "test"))
    }

    @Test("a filled view is a hit for no token and for tokens up to its as-of; a later token misses")
    func hitsAndTokens() async throws {
        let cache = try cache()
        let id = UUID()
        #expect(await cache.lookup(id, token: nil) == .miss)
        #expect(await cache.fill(id, with: live(3, at: token(100, 5), #"{"title":"Kind of Blue"}"#)))
        #expect(await cache.lookup(id, token: nil) == .hit(live(3, at: token(100, 5), #"{"title":"Kind of Blue"}"#)))
        #expect(await cache.lookup(id, token: token(100, 5)) == .hit(live(3, at: token(100, 5), #"{"title":"Kind of Blue"}"#)))
        #expect(await cache.lookup(id, token: token(100, 6)) == .miss)
        #expect(await cache.lookup(id, token: token(101, 0)) == .miss)
    }

    @Test("fills never go back: an older version is refused, the same version only from a later snapshot")
    func monotonicFills() async throws {
        let cache = try cache()
        let id = UUID()
        #expect(await cache.fill(id, with: live(5, at: token(200))))
        #expect(await !cache.fill(id, with: live(4, at: token(300))), "older version")
        #expect(await !cache.fill(id, with: live(5, at: token(199))), "same version, older snapshot")
        #expect(await !cache.fill(id, with: live(5, at: token(200))), "the same")
        #expect(await cache.fill(id, with: live(5, at: token(250))), "same version, later snapshot")
        #expect(await cache.lookup(id, token: token(250)) == .hit(live(5, at: token(250))))
        // Token fields are compared as numbers of any size, not as doubles or text.
        #expect(await cache.fill(id, with: live(5, at: token(1_000_000_000_000_000_001))))
        #expect(await !cache.fill(id, with: live(5, at: token(1_000_000_000_000_000_000))))
        #expect(await cache.fill(id, with: live(6, at: token(1))), "a higher version wins whatever its snapshot")
    }

    @Test("I5: a fence removes views below it and refuses their fills; views at or above it are kept and stored")
    func fences() async throws {
        let cache = try cache()
        let (a, b) = (UUID(), UUID())
        #expect(await cache.fill(a, with: live(2, at: token(10))))
        #expect(await cache.fill(b, with: live(7, at: token(10))))
        try await cache.raiseFences([(a, 3), (b, 7)])
        #expect(await cache.lookup(a, token: nil) == .miss, "below the fence: removed")
        #expect(await cache.lookup(b, token: nil) == .hit(live(7, at: token(10))), "at the fence: kept")
        #expect(try await cache.fence(of: a) == 3)
        // A lagging replica's view of version 2 arrives after the fence: refused.
        #expect(await !cache.fill(a, with: live(2, at: token(11))))
        #expect(await cache.lookup(a, token: nil) == .miss)
        #expect(await cache.fill(a, with: live(3, at: token(12))))
        // A fence never goes down; a lower one only refreshes its lifetime.
        try await cache.raiseFences([(a, 1)])
        #expect(try await cache.fence(of: a) == 3)
        #expect(await cache.lookup(a, token: nil) == .hit(live(3, at: token(12))))
    }

    @Test("an unknown album is cached as missing until it is created; the creation's fence removes it")
    func negativeEntries() async throws {
        let cache = try cache { $0.negativeTTL = .seconds(30) }
        let id = UUID()
        let missing = CachedView(state: .missing, version: 0, asOf: token(50))
        #expect(await cache.fill(id, with: missing))
        #expect(await cache.lookup(id, token: nil) == .hit(missing))
        try await cache.raiseFences([(id, 1)])
        #expect(await cache.lookup(id, token: nil) == .miss)
        #expect(await !cache.fill(id, with: missing), "a replica that has not seen the creation cannot bring it back")
    }

    @Test("one process holds an album's fill lease at a time, until it releases it or it expires")
    func leases() async throws {
        let cache = try cache { $0.leaseTTL = .seconds(10) }
        let id = UUID()
        #expect(await cache.acquireFillLease(id))
        #expect(await !cache.acquireFillLease(id))
        await cache.releaseFillLease(id)
        #expect(await cache.acquireFillLease(id))
        let brief = try self.cache { $0.leaseTTL = .milliseconds(100) }
        let other = UUID()
        #expect(await brief.acquireFillLease(other))
        try await Task.sleep(for: .milliseconds(300))
        #expect(await brief.acquireFillLease(other), "expired")
    }

    @Test("with Redis unreachable a lookup answers unavailable at once and the breaker opens; no error escapes")
    func unreachable() async throws {
        var redis = RedisClient.Configuration(host: "127.0.0.1", port: 1)
        redis.connectTimeout = .milliseconds(200)
        let cache = ViewCache(client: try RedisClient(configuration: redis), logger: Logger(label: "test"))
        let id = UUID()
        for _ in 0..<5 { #expect(await cache.lookup(id, token: nil) == .unavailable) }
        #expect(!cache.isAvailable)
        #expect(await !cache.fill(id, with: live(1, at: token(1))))
        await #expect(throws: RedisError.self) { try await cache.raiseFences([(id, 1)]) }
    }
}
