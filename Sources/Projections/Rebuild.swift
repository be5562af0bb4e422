import CatalogCore
import EventLog
import Foundation
import Logging
import Postgres
import ReadModel

/// Rebuilding a projection from the whole event log while the live tables stay in use: `replay` builds
/// shadow tables and swaps them in atomically; `verify` builds a copy aside and compares it with the live tables.
public struct Rebuild: Sendable {
    /// How far a rebuild has come, for progress reports.
    public struct Progress: Sendable {
        public var applied: Int
        /// Events in the log when the rebuild started (it also applies those appended since).
        public var total: Int
        public var elapsed: Duration
    }

    public struct ReplayReport: Sendable {
        public var events: Int
        public var skipped: Int
        public var elapsed: Duration
        /// The checkpoint of the swapped-in tables.
        public var checkpoint: ConsistencyToken
    }

    /// One row that differs between the live table and the rebuilt copy.
    public typealias Difference = ReadTables.Difference

    public struct VerifyReport: Sendable {
        public var equal: Bool { differenceCount == 0 }
        public var differenceCount: Int
        /// The first differences, at most `limit` of them.
        public var differences: [Difference]
        public var checkpoint: ConsistencyToken
        public var events: Int
        /// Events the rebuild could not apply either (they are dead letters of the live projection).
        public var skipped: Int
    }

    public let projection: any Projection
    let client: PostgresClient
    let store: EventStore
    let batchSize: Int
    let onPoison: PoisonPolicy
    let logger: Logger

    public init(projection: any Projection, client: PostgresClient, batchSize: Int = 2000, onPoison: PoisonPolicy = .halt, logger: Logger) {
        self.projection = projection
        self.client = client
        self.store = EventStore(client: client)
        self.batchSize = batchSize
        self.onPoison = onPoison
        self.logger = logger
    }

    // MARK: - replay

    /// Rebuilds the projection into shadow tables from the first event, catches up with the live
    /// checkpoint, and swaps the shadow tables in, in one transaction that holds the checkpoint row (so
    /// the live runner pauses for that moment) and then drops the old tables. Readers are never refused:
    /// a query waiting on the swap's lock continues on the new table.
    public func replay(progress: @Sendable (Progress) -> Void = { _ in }) async throws -> ReplayReport {
        try await client.withConnection { session in
            try await exclusively(session) {
                let started = ContinuousClock.now
                try await ReadTables.create(projection.tables, .rebuild, unlogged: false, in: session)
                let total = try await eventCount(in: session)
                let batch = Batch(projection: projection, tables: .rebuild, policy: onPoison, recordsDeadLetters: true)
                var position = ConsistencyToken.origin
                var applied = 0
                var skipped = 0
                // With a second connection, the next batch is read while this one is applied.
                let prefetch = client.configuration.poolSize > 1
                var events = try await store.readAll(after: position, upTo: nil, limit: batchSize, in: session)
                while true {
                    let full = events.count == batchSize
                    let next = events.last?.token ?? position
                    async let following = prefetch && full ? store.readAll(after: next, limit: batchSize) : []
                    let current = events
                    let outcome = try await session.withTransaction { try await batch.apply(current, in: $0) }
                    try check(outcome)
                    position = outcome.last ?? position
                    applied += events.count
                    skipped += outcome.skipped
                    progress(Progress(applied: applied, total: max(total, applied), elapsed: ContinuousClock.now - started))
                    guard full else { break }
                    events = prefetch ? try await following : try await store.readAll(after: next, upTo: nil, limit: batchSize, in: session)
                }
                let checkpoint = try await session.withTransaction { tx in
                    // Bounded: rather fail the replay than hold readers behind the swap's lock for long.
                    try await tx.query("SET LOCAL lock_timeout = '10s'")
                    let live = try await Checkpoints.lockAnyLeader(projection.name, in: tx)
                    // Catch the shadow up with what the live runner applied meanwhile (it waits on the row lock now).
                    while position < live {
                        let events = try await store.readAll(after: position, upTo: live, limit: batchSize, in: tx)
                        if events.isEmpty { break }
                        let outcome = try await batch.apply(events, in: tx)
                        try check(outcome)
                        position = outcome.last ?? position
                        applied += events.count
                        skipped += outcome.skipped
                    }
                    if position > live {
                        // The shadow is ahead of a runner that lagged or stopped: the checkpoint moves with it,
                        // past whatever had halted the projection.
                        try await Checkpoints.advance(projection.name, to: position, in: tx)
                        try await tx.query(
                            "UPDATE read_model.projection_checkpoints SET halted_at = NULL, halt_reason = NULL WHERE projection = \(projection.name)"
                        )
                    }
                    try await ReadTables.swap(projection.tables, in: tx)
                    return max(position, live)
                }
                progress(Progress(applied: applied, total: max(total, applied), elapsed: ContinuousClock.now - started))
                return ReplayReport(events: applied, skipped: skipped, elapsed: ContinuousClock.now - started, checkpoint: checkpoint)
            }
        }
    }

    // MARK: - verify

    /// Rebuilds the projection aside (unlogged tables, dropped afterwards) up to the live checkpoint and
    /// compares it with the live tables, both read in one snapshot. Changes nothing live.
    public func verify(limit: Int = 10, progress: @Sendable (Progress) -> Void = { _ in }) async throws -> VerifyReport {
        try await client.withConnection { session in
            try await exclusively(session) {
                let started = ContinuousClock.now
                for table in projection.tables where try await !ReadTables.exists(table, in: session) {
                    throw ProjectionEngineError.neverRun(projection.name)
                }
                try await ReadTables.create(projection.tables, .verify, unlogged: true, in: session)
                let target = try await Checkpoints.read(projection.name, in: session)
                let total = try await eventCount(upTo: target, in: session)
                // Events the live projection skipped are skipped here too; nothing is recorded.
                let batch = Batch(projection: projection, tables: .verify, policy: .skip, recordsDeadLetters: false)
                var position = ConsistencyToken.origin
                var applied = 0
                var skipped = 0
                func build(upTo end: ConsistencyToken, in tx: PostgresSession) async throws -> Int {
                    let events = try await store.readAll(after: position, upTo: end, limit: batchSize, in: tx)
                    let outcome = try await batch.apply(events, in: tx)
                    position = outcome.last ?? position
                    applied += events.count
                    skipped += outcome.skipped
                    return events.count
                }
                while position < target {
                    let read = try await session.withTransaction { try await build(upTo: target, in: $0) }
                    progress(Progress(applied: applied, total: max(total, applied), elapsed: ContinuousClock.now - started))
                    if read == 0 { break }
                }
                let report = try await session.withTransaction(isolation: .repeatableRead) { tx in
                    // One snapshot: the live rows and the checkpoint they reflect, and the events up to it.
                    let checkpoint = try await Checkpoints.read(projection.name, in: tx)
                    while position < checkpoint, try await build(upTo: checkpoint, in: tx) > 0 {}
                    var differences: [Difference] = []
                    var count = 0
                    for table in projection.tables {
                        let (found, first) = try await ReadTables.compare(table, limit: limit - differences.count, in: tx)
                        count += found
                        differences += first
                    }
                    return VerifyReport(
                        differenceCount: count,
                        differences: differences,
                        checkpoint: checkpoint,
                        events: applied,
                        skipped: skipped
                    )
                }
                try await ReadTables.drop(projection.tables, .verify, in: session)
                progress(Progress(applied: applied, total: max(total, applied), elapsed: ContinuousClock.now - started))
                return report
            }
        }
    }

    // MARK: - helpers

    /// Runs `body` holding the projection's rebuild lock, so that two replays or verifies never interleave.
    private func exclusively<Result>(_ session: PostgresSession, _ body: () async throws -> Result) async throws -> Result {
        guard try await Checkpoints.tryLockRebuild(projection.name, in: session) else {
            throw ProjectionEngineError.rebuildInProgress(projection.name)
        }
        do {
            let result = try await body()
            await Checkpoints.unlockAll(in: session)
            return result
        } catch {
            await Checkpoints.unlockAll(in: session)
            throw error
        }
    }

    private func check(_ outcome: Batch.Outcome) throws {
        if let poison = outcome.poison {
            throw ProjectionEngineError.poisonEvent(projection: projection.name, token: poison.event.token, reason: poison.reason)
        }
    }

    private func eventCount(upTo end: ConsistencyToken? = nil, in session: PostgresSession) async throws -> Int {
        let end = end ?? ConsistencyToken(transaction: UInt64(Int64.max), position: Int64.max)
        let rows = try await session.query(
            """
            SELECT count(*) FROM events
            WHERE (txid, position) <= (\(String(end.transaction))::xid8, \(Int(end.position)))
              AND txid < pg_snapshot_xmin(pg_current_snapshot())
            """
        )
        return try rows.first?.decode(Int.self, at: 0) ?? 0
    }
}
