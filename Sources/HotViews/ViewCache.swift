import CatalogCore
import Foundation
import Logging
import Metrics
import NIOCore
import Redis
import Synchronization

/// Hot album views in Redis, filled only through the fence and skipped (never waited on) while Redis is
/// unwell. Used by query-api to answer reads and by the command side to deliver fences.
///
/// Invariant (I5): once the fence (album, v) is in Redis, Redis never again serves a view of that album
/// below v. A fence raise removes lower views in the same script, and a fill below the fence is refused
/// in the same script that would store it, so no interleaving of fills and fences breaks it.
public final class ViewCache: Sendable {
    public struct Configuration: Sendable {
        /// How long a live album's view stays without being refreshed.
        public var viewTTL: Duration = .seconds(600)
        /// How long an archived or unknown album is remembered as such.
        public var negativeTTL: Duration = .seconds(5)
        /// How long a fence lives: far longer than any replica lag the router accepts (1 s by default) plus a
        /// read's own duration, so that no lagging replica's view can slip in after the fence expired.
        public var fenceTTL: Duration = .seconds(3600)
        /// How long one process may hold an album's fill lease; others wait for its fill at most this long.
        public var leaseTTL: Duration = .milliseconds(200)
        public var breaker = CircuitBreaker()
        public var keyPrefix = "catalog"

        public init() {}
    }

    /// What a lookup found.
    public enum Lookup: Sendable, Equatable {
        /// A view that may answer the read.
        case hit(CachedView)
        /// Nothing cached, or only a view older than the read's token.
        case miss
        /// Redis was skipped (breaker open) or failed: read from the database.
        case unavailable
    }

    public let configuration: Configuration
    let client: RedisClient
    let logger: Logger
    private let breaker: Mutex<CircuitBreaker>
    private let metrics = CacheMetrics()

    public init(client: RedisClient, configuration: Configuration = .init(), logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.breaker = Mutex(configuration.breaker)
    }

    /// Whether calls go to Redis now (the breaker is closed).
    public var isAvailable: Bool { breaker.withLock { $0.isClosed } }

    // MARK: - reads

    /// The cached view of `id` when one may answer a read carrying `token`.
    ///
    /// The hot path of every cached read, so written out without closures: each async call of a function
    /// that is not `nonisolated(nonsending)` costs the task a trip through its event loop's queue.
    nonisolated(nonsending) public func lookup(_ id: UUID, token: ConsistencyToken?) async -> Lookup {
        guard admit() else {
            metrics.skipped.increment()
            return .unavailable
        }
        let reply: RedisValue
        do {
            reply = try await client.send(RedisCommand("HMGET", viewKey(id), "v", "x", "p", "s", "d"))
            succeeded()
        } catch {
            failed(error)
            return .unavailable
        }
        guard let view = Self.decode(reply) else {
            metrics.misses.increment()
            return .miss
        }
        guard view.satisfies(token) else {
            metrics.misses.increment()
            return .miss
        }
        metrics.hits.increment()
        return .hit(view)
    }

    /// Stores `view` if the fence and what is cached allow it; true when stored. Never throws: a fill that
    /// does not happen costs a later miss, nothing else.
    @discardableResult
    public func fill(_ id: UUID, with view: CachedView) async -> Bool {
        let ttl = view.state == .live ? configuration.viewTTL : configuration.negativeTTL
        let stored: RedisValue? = try? await guarded {
            try await client.run(
                CacheScripts.fillInUse,
                keys: [viewKey(id), fenceKey(id)],
                arguments: [
                    view.version, String(view.asOf.transaction), String(view.asOf.position), view.state.rawValue, view.document,
                    Self.milliseconds(ttl),
                ]
            )
        }
        let done = stored?.integer == 1
        (done ? metrics.fills : metrics.refusedFills).increment()
        return done
    }

    /// Takes the short lease on filling `id`, so that one process across the fleet reads the database for
    /// it while the others wait for its fill. False when another process holds it (or Redis is away).
    public func acquireFillLease(_ id: UUID) async -> Bool {
        let reply: RedisValue? = try? await guarded {
            try await client.send("SET", leaseKey(id), "1", "NX", "PX", Self.milliseconds(configuration.leaseTTL))
        }
        return reply?.string == "OK"
    }

    public func releaseFillLease(_ id: UUID) async {
        _ = try? await guarded { try await client.send("DEL", leaseKey(id)) }
    }

    // MARK: - fences

    /// Raises each album's fence to at least its version and removes cached views below it, all in one
    /// round trip. Throws when Redis cannot take them (the caller keeps them and retries); this path does
    /// not consult the breaker, since the outbox relay owns its own retries.
    public func raiseFences(_ fences: [(album: UUID, version: Int)]) async throws {
        guard !fences.isEmpty else { return }
        let commands = fences.map { fence in
            RedisCommand(
                "EVALSHA",
                arguments: [
                    CacheScripts.invalidate.sha1, 2, fenceKey(fence.album), viewKey(fence.album), fence.version,
                    Self.milliseconds(configuration.fenceTTL),
                ]
            )
        }
        var replies = try await client.pipeline(commands)
        if replies.contains(where: { if case .error(let message) = $0 { message.hasPrefix("NOSCRIPT") } else { false } }) {
            try await client.send("SCRIPT", "LOAD", CacheScripts.invalidate.source)
            replies = try await client.pipeline(commands)
        }
        for reply in replies {
            if case .error(let message) = reply { throw RedisError(code: .server, message: message) }
        }
        metrics.fencesRaised.increment(by: fences.count)
    }

    /// The album's fence, 0 when it has none (for checkers and tests).
    public func fence(of id: UUID) async throws -> Int {
        try await client.send("GET", fenceKey(id)).integer ?? 0
    }

    // MARK: - keys and helpers

    func viewKey(_ id: UUID) -> String { "\(configuration.keyPrefix):{\(id.lowercasedString)}:view" }
    func fenceKey(_ id: UUID) -> String { "\(configuration.keyPrefix):{\(id.lowercasedString)}:fence" }
    func leaseKey(_ id: UUID) -> String { "\(configuration.keyPrefix):{\(id.lowercasedString)}:lease" }

    /// Runs `call` when the breaker lets it, recording its outcome; nil when skipped. A failure is logged
    /// once per opening, without the error's text (it could carry a server address, never a password).
    nonisolated(nonsending) private func guarded<Result: Sendable>(
        _ call: nonisolated(nonsending) () async throws -> Result
    ) async throws -> Result? {
        guard admit() else { return nil }
        do {
            let result = try await call()
            succeeded()
            return result
        } catch {
            failed(error)
            throw error
        }
    }

    /// Whether the breaker lets a call go to Redis now.
    private func admit() -> Bool {
        breaker.withLock { $0.allow(at: .now) }
    }

    private func succeeded() {
        let recovered = breaker.withLock { breaker in
            defer { breaker.recordSuccess() }
            return !breaker.isClosed
        }
        if recovered { logger.info("redis answers again; cache back in use") }
    }

    private func failed(_ error: any Error) {
        metrics.errors.increment()
        let opened = breaker.withLock { breaker in
            let wasClosed = breaker.isClosed
            breaker.recordFailure(at: .now)
            return wasClosed && !breaker.isClosed
        }
        if opened {
            logger.warning(
                "redis unavailable; reads skip the cache until it answers",
                metadata: ["redis.error": "\((error as? RedisError)?.code.description ?? "error")"]
            )
        }
    }

    static func decode(_ reply: RedisValue) -> CachedView? {
        guard let fields = reply.array, fields.count == 5, let version = fields[0].integer,
            let transaction = fields[1].string.flatMap({ UInt64($0) }), let position = fields[2].string.flatMap({ Int64($0) }),
            let state = fields[3].string.flatMap(CachedView.State.init(rawValue:)), case .bulk(let document) = fields[4]
        else { return nil }
        return CachedView(
            state: state,
            version: version,
            asOf: ConsistencyToken(transaction: transaction, position: position),
            document: ByteBuffer(bytes: document)
        )
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }
}

/// The cache's metrics, made once.
struct CacheMetrics: Sendable {
    let hits = Counter(label: "catalog_cache_lookups_total", dimensions: [("result", "hit")])
    let misses = Counter(label: "catalog_cache_lookups_total", dimensions: [("result", "miss")])
    let skipped = Counter(label: "catalog_cache_lookups_total", dimensions: [("result", "skipped")])
    let fills = Counter(label: "catalog_cache_fills_total", dimensions: [("result", "stored")])
    let refusedFills = Counter(label: "catalog_cache_fills_total", dimensions: [("result", "refused")])
    let fencesRaised = Counter(label: "catalog_cache_fences_raised_total")
    let errors = Counter(label: "catalog_cache_errors_total")
}
