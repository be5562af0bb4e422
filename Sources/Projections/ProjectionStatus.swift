import CatalogCore
import EventLog
import Foundation
import Postgres

/// Where a projection stands, as `projections status` shows it.
public struct ProjectionStatus: Sendable, Encodable {
    public struct Leader: Sendable, Encodable {
        public var name: String
        public var since: Date?
        /// Whether the leader still holds the lock (a runner that died leaves its name behind).
        public var active: Bool
        public var fence: Int64
    }

    public struct DeadLetter: Sendable, Encodable {
        public var token: String
        public var albumId: String
        public var version: Int
        public var type: String
        public var error: String
        public var skipped: Bool
        public var failedAt: Date
    }

    public var name: String
    /// nil when the projection never ran.
    public var checkpoint: String?
    public var head: String
    public var lagEvents: Int
    /// Age of the oldest event not yet applied; 0 when caught up.
    public var lagSeconds: Double
    public var leader: Leader?
    public var halted: Bool
    public var haltReason: String?
    public var deadLetterCount: Int
    /// The most recent dead letters (at most 5).
    public var deadLetters: [DeadLetter]
    public var updatedAt: Date?

    public static func load(_ projections: [any Projection], client: PostgresClient) async throws -> [ProjectionStatus] {
        let store = EventStore(client: client)
        return try await client.withConnection { session in
            let head = try await store.head(in: session)
            var statuses: [ProjectionStatus] = []
            for projection in projections {
                statuses.append(try await load(projection.name, head: head, in: session))
            }
            return statuses
        }
    }

    static func load(_ name: String, head: ConsistencyToken, in session: PostgresSession) async throws -> ProjectionStatus {
        let rows = try await session.query(
            """
            SELECT txid::text, position, fence, leader, leader_since, halted_at IS NOT NULL, halt_reason, updated_at,
                   EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
                           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                           AND classid = \(Int(Checkpoints.leaderLockClass))::oid
                           AND objid = (hashtext(projection)::int8 & 4294967295)::oid)
            FROM read_model.projection_checkpoints WHERE projection = \(name)
            """
        )
        var status = ProjectionStatus(
            name: name,
            checkpoint: nil,
            head: head.description,
            lagEvents: 0,
            lagSeconds: 0,
            leader: nil,
            halted: false,
            haltReason: nil,
            deadLetterCount: 0,
            deadLetters: [],
            updatedAt: nil
        )
        var checkpoint = ConsistencyToken.origin
        if let row = rows.first {
            checkpoint = try ConsistencyToken(row, transaction: 0, position: 1)
            status.checkpoint = checkpoint.description
            if let leader = try row.decode(String?.self, at: 3) {
                status.leader = Leader(
                    name: leader,
                    since: try row.decode(Date?.self, at: 4),
                    active: try row.decode(Bool.self, at: 8),
                    fence: Int64(try row.decode(Int.self, at: 2))
                )
            }
            status.halted = try row.decode(Bool.self, at: 5)
            status.haltReason = try row.decode(String?.self, at: 6)
            status.updatedAt = try row.decode(Date?.self, at: 7)
        }
        let lag = try await session.query(
            """
            SELECT count(*),
                   coalesce(extract(epoch FROM now() - (SELECT recorded_at FROM events
                        WHERE (txid, position) > (\(String(checkpoint.transaction))::xid8, \(Int(checkpoint.position)))
                        ORDER BY events.txid, events.position LIMIT 1))::float8, 0)
            FROM events WHERE (txid, position) > (\(String(checkpoint.transaction))::xid8, \(Int(checkpoint.position)))
            """
        )
        status.lagEvents = try lag.first?.decode(Int.self, at: 0) ?? 0
        status.lagSeconds = max(0, try lag.first?.decode(Double.self, at: 1) ?? 0)
        let letters = try await session.query(
            """
            SELECT txid::text, position, stream_id, version, type, error, skipped, failed_at, count(*) OVER ()
            FROM read_model.projection_dead_letters WHERE projection = \(name)
            ORDER BY failed_at DESC LIMIT 5
            """
        )
        status.deadLetterCount = try letters.first?.decode(Int.self, at: 8) ?? 0
        status.deadLetters = try letters.map { row in
            DeadLetter(
                token: try ConsistencyToken(row, transaction: 0, position: 1).description,
                albumId: try row.decode(UUID.self, at: 2).uuidString.lowercased(),
                version: try row.decode(Int.self, at: 3),
                type: try row.decode(String.self, at: 4),
                error: try row.decode(String.self, at: 5),
                skipped: try row.decode(Bool.self, at: 6),
                failedAt: try row.decode(Date.self, at: 7)
            )
        }
        return status
    }
}

/// The projections this catalog has, by name.
public enum CatalogProjections {
    public static let all: [any Projection] = [AlbumsProjection()]

    public static func projection(named name: String) -> (any Projection)? {
        all.first { $0.name == name }
    }
}
