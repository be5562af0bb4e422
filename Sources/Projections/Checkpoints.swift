import CatalogCore
import EventLog
import Foundation
import Postgres

/// The projection bookkeeping on the primary: checkpoints, leadership and dead letters
/// (tables of migration 2, in the read model schema).
enum Checkpoints {
    static let table = "read_model.projection_checkpoints"
    static let deadLetters = "read_model.projection_dead_letters"
    /// The first key of the two-key advisory locks; the second is `hashtext(projection name)`.
    static let leaderLockClass: Int32 = 74_142_081
    /// Serialises replays and verifications of one projection.
    static let rebuildLockClass: Int32 = 74_142_082

    static func ensure(_ projection: String, in session: PostgresSession) async throws {
        try await session.query("INSERT INTO read_model.projection_checkpoints (projection) VALUES (\(projection)) ON CONFLICT DO NOTHING")
    }

    /// Tries the projection's leader lock (held by the session until it ends or unlocks).
    static func tryLead(_ projection: String, in session: PostgresSession) async throws -> Bool {
        try await tryLock(leaderLockClass, projection, in: session)
    }

    static func tryLockRebuild(_ projection: String, in session: PostgresSession) async throws -> Bool {
        try await tryLock(rebuildLockClass, projection, in: session)
    }

    private static func tryLock(_ lockClass: Int32, _ projection: String, in session: PostgresSession) async throws -> Bool {
        let rows = try await session.query("SELECT pg_try_advisory_lock(\(Int(lockClass))::int4, hashtext(\(projection)))")
        return try rows.first?.decode(Bool.self, at: 0) ?? false
    }

    static func unlockAll(in session: PostgresSession) async {
        _ = try? await session.query("SELECT pg_advisory_unlock_all()")
    }

    /// Records a new leader and raises the fence: from now on only writes presenting the new value succeed.
    /// A halt is lifted, so that the new leader retries the event that halted the projection.
    static func takeLeadership(_ projection: String, leader: String, in session: PostgresSession) async throws -> Int64 {
        try await ensure(projection, in: session)
        let rows = try await session.query(
            """
            UPDATE read_model.projection_checkpoints
            SET fence = fence + 1, leader = \(leader), leader_since = now(), halted_at = NULL, halt_reason = NULL
            WHERE projection = \(projection)
            RETURNING fence
            """
        )
        guard let row = rows.first else { throw ProjectionEngineError.leadershipLost }
        return Int64(try row.decode(Int.self, at: 0))
    }

    /// Locks the checkpoint row for the rest of the transaction, if `fence` is still current, and returns
    /// the checkpoint and whether the projection is halted. A runner whose fence was raised gets
    /// `leadershipLost`; the row lock keeps a new leader from raising it until this transaction ends.
    static func lock(_ projection: String, fence: Int64, in session: PostgresSession) async throws -> (token: ConsistencyToken, halted: Bool) {
        let rows = try await session.query(
            """
            SELECT txid::text, position, halted_at IS NOT NULL FROM read_model.projection_checkpoints
            WHERE projection = \(projection) AND fence = \(Int(fence))
            FOR UPDATE
            """
        )
        guard let row = rows.first else { throw ProjectionEngineError.leadershipLost }
        return (try ConsistencyToken(row, transaction: 0, position: 1), try row.decode(Bool.self, at: 2))
    }

    /// Locks the checkpoint row whoever leads (a replay's swap), creating it when the projection never ran.
    static func lockAnyLeader(_ projection: String, in session: PostgresSession) async throws -> ConsistencyToken {
        try await ensure(projection, in: session)
        let rows = try await session.query(
            "SELECT txid::text, position FROM read_model.projection_checkpoints WHERE projection = \(projection) FOR UPDATE"
        )
        guard let row = rows.first else { throw ProjectionEngineError.leadershipLost }
        return try ConsistencyToken(row, transaction: 0, position: 1)
    }

    static func read(_ projection: String, in session: PostgresSession) async throws -> ConsistencyToken {
        let rows = try await session.query(
            "SELECT txid::text, position FROM read_model.projection_checkpoints WHERE projection = \(projection)"
        )
        guard let row = rows.first else { return .origin }
        return try ConsistencyToken(row, transaction: 0, position: 1)
    }

    /// Moves the checkpoint; the caller holds the row lock (`lock` or `lockAnyLeader`) in this transaction.
    static func advance(_ projection: String, to token: ConsistencyToken, in session: PostgresSession) async throws {
        try await session.query(
            """
            UPDATE read_model.projection_checkpoints
            SET txid = \(String(token.transaction))::xid8, position = \(Int(token.position)), updated_at = now()
            WHERE projection = \(projection)
            """
        )
    }

    static func halt(_ projection: String, reason: String, in session: PostgresSession) async throws {
        try await session.query(
            "UPDATE read_model.projection_checkpoints SET halted_at = now(), halt_reason = \(reason) WHERE projection = \(projection)"
        )
    }

    static func deadLetter(_ projection: String, event: RecordedEvent, error: String, skipped: Bool, in session: PostgresSession) async throws {
        try await session.query(
            """
            INSERT INTO read_model.projection_dead_letters
                (projection, txid, position, stream_id, version, type, schema_version, error, skipped)
            VALUES (\(projection), \(String(event.token.transaction))::xid8, \(Int(event.token.position)), \(event.streamID),
                    \(event.version), \(event.event.type), \(event.event.schemaVersion), \(error), \(skipped))
            ON CONFLICT (projection, txid, position) DO UPDATE SET error = excluded.error, skipped = excluded.skipped, failed_at = now()
            """
        )
    }
}

public enum ProjectionEngineError: Error, Equatable, CustomStringConvertible {
    /// Another runner raised the fence: this one must stop writing.
    case leadershipLost
    /// Another replay or verification of the projection is running.
    case rebuildInProgress(String)
    /// An event could not be applied during a replay or verification that halts on poison events.
    case poisonEvent(projection: String, token: ConsistencyToken, reason: String)
    case unknownProjection(String)
    /// The projection has no live tables yet: `projections run` or `replay` creates them.
    case neverRun(String)

    public var description: String {
        switch self {
        case .leadershipLost: "another runner leads this projection now"
        case .rebuildInProgress(let name): "a replay or verify of \(name) is already running"
        case .poisonEvent(let name, let token, let reason): "\(name) cannot apply the event at \(token): \(reason)"
        case .unknownProjection(let name): "no projection named \(name)"
        case .neverRun(let name): "\(name) has no live tables yet (start projections run, or replay it)"
        }
    }
}
