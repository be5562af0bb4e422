import Foundation
import HotViews
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import TestFaults

/// Delivers committed intents to Redis as fences, in pipelined batches, at once after a commit and with
/// backoff while Redis is down; settles orphaned intents (their command died between recording the
/// intent and marking it) by asking the primary for the album's version; prunes what is done.
public final class OutboxRelay: Service, Sendable {
    public struct Configuration: Sendable {
        /// Intents per Redis round trip.
        public var batchSize = 500
        /// How often the relay looks even without a signal (orphans, pruning, a missed wake-up).
        public var pollInterval: Duration = .milliseconds(500)
        /// Backoff while Redis refuses: from `retryMinimum`, doubling to `retryMaximum`.
        public var retryMinimum: Duration = .milliseconds(50)
        public var retryMaximum: Duration = .milliseconds(250)
        /// A pending intent of this run older than this is settled by asking the primary. Settling one whose
        /// command is in fact still running is harmless: the command marks it again when it finishes.
        public var orphanAge: TimeInterval = 10
        /// Delivered and aborted intents are kept this long (for operators), then pruned.
        public var keepDone: TimeInterval = 300

        public init() {}
    }

    /// The album's version on the primary, to settle an orphaned intent: nil when it cannot be known now.
    public typealias VersionLookup = @Sendable (UUID) async throws -> Int

    let outbox: Outbox
    let cache: ViewCache
    let versionOf: VersionLookup
    let configuration: Configuration
    let logger: Logger
    private let depth = Gauge(label: "catalog_outbox_undelivered")
    private let oldest = Gauge(label: "catalog_outbox_oldest_undelivered_seconds")
    private let delivered = Counter(label: "catalog_outbox_delivered_total")
    private let settled = Counter(label: "catalog_outbox_settled_total")
    /// Test fault `relay-drops-fences` (breaks I6): of the intents this relay delivers, counted in the order
    /// it delivers them, every second one (the 2nd, 4th, ...) is marked delivered without its fence being
    /// raised in Redis. Off unless the process started with the fault (see `TestFaults`).
    static let dropsFences = TestFaults.isActive(.relayDropsFences)
    /// Intents handed to `deliverCommitted` so far; counted only under `relay-drops-fences`.
    private let handled = Atomic<Int>(0)

    public init(outbox: Outbox, cache: ViewCache, configuration: Configuration = .init(), logger: Logger, versionOf: @escaping VersionLookup) {
        self.outbox = outbox
        self.cache = cache
        self.configuration = configuration
        self.logger = logger
        self.versionOf = versionOf
    }

    public func run() async throws {
        // On graceful shutdown: stop the loop, then deliver what committed meanwhile; what Redis does not
        // take now stays in the outbox for the next run.
        await cancelWhenGracefulShutdown { await self.loop() }
        _ = try? await deliverCommitted()
    }

    /// Delivers at once after each commit (and at least every poll interval), with backoff while Redis
    /// refuses; settles orphans and prunes once per poll interval.
    private func loop() async {
        var pause = configuration.retryMinimum
        var lastHousekeeping = ContinuousClock.now - .seconds(3600)
        while !Task.isCancelled {
            do {
                // Settled intents are only made here, so only a housekeeping pass reads them from the file;
                // a pass woken by a commit delivers from memory.
                let housekeeping = ContinuousClock.now - lastHousekeeping > configuration.pollInterval
                if housekeeping {
                    try await settleOrphans()
                    try await outbox.prune(olderThan: configuration.keepDone)
                    try await report()
                    lastHousekeeping = .now
                }
                let sent = try await deliverCommitted(includeSettled: housekeeping || pause > configuration.retryMinimum)
                pause = configuration.retryMinimum
                if sent == configuration.batchSize { continue }
                await outbox.committed.wait(upTo: configuration.pollInterval)
            } catch {
                logger.warning("fences not delivered yet; retrying", metadata: ["retry.in": "\(pause)"])
                try? await report()
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, configuration.retryMaximum)
            }
        }
    }

    /// Delivers up to a batch of committed intents; returns how many.
    @discardableResult
    public func deliverCommitted(includeSettled: Bool = true) async throws -> Int {
        let intents = try await outbox.deliverableIntents(limit: configuration.batchSize, includeSettled: includeSettled)
        guard !intents.isEmpty else { return 0 }
        if Self.dropsFences {
            try await cache.raiseFences(droppingEverySecond(intents).map { ($0.album, $0.version) })
        } else {
            try await cache.raiseFences(intents.map { ($0.album, $0.version) })
        }
        try await outbox.markDelivered(intents)
        delivered.increment(by: intents.count)
        return intents.count
    }

    /// `relay-drops-fences`: the intents whose fences are raised, leaving out every second one counted
    /// across batches (a batch that fails is counted again when retried).
    private func droppingEverySecond(_ intents: [Outbox.Ticket]) -> [Outbox.Ticket] {
        let first = handled.add(intents.count, ordering: .relaxed).oldValue
        let kept = intents.enumerated().filter { (first + $0.offset) % 2 == 0 }.map(\.element)
        logger.debug("test fault relay-drops-fences: fences left out", metadata: ["count": "\(intents.count - kept.count)"])
        return kept
    }

    /// Orphaned intents: committed when the primary's album has reached their version (this command's
    /// write, or a later one: the fence is due either way), else aborted.
    func settleOrphans() async throws {
        let orphans = try await outbox.orphanedIntents(olderThan: configuration.orphanAge, limit: configuration.batchSize)
        for intent in orphans {
            let version = try await versionOf(intent.album)
            try await outbox.mark([intent.id], version >= intent.version ? .committed : .aborted)
            settled.increment()
            logger.info(
                "settled an intent left by a command that did not finish",
                metadata: ["album.id": "\(intent.album)", "album.version": "\(intent.version)", "committed": "\(version >= intent.version)"]
            )
        }
    }

    func report() async throws {
        let (count, oldestSeconds) = try await outbox.backlog()
        depth.record(count)
        oldest.record(oldestSeconds)
    }
}
