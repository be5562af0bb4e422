import CatalogCore
import Domain
import Foundation
import Logging
import Postgres

/// Who caused an event (the audit trail): the subject of the token that authorized its command, and the
/// id of the request that carried it. Every event of one command has the same. Stored as the event's
/// `metadata` (jsonb: `subject`, `requestId`); events from before the audit trail existed came from
/// unauthenticated writes and carry the subject `anonymous` and no request id (migration 4).
public struct EventMetadata: Equatable, Sendable {
    /// The token's `sub`; `anonymous` when the command came without one (command-api's `--write-auth off`).
    public var subject: String
    /// The request's `Request-Id` as its response carried it (the client's own when it sent a sensible one).
    public var requestID: String?

    public init(subject: String, requestID: String?) {
        self.subject = subject
        self.requestID = requestID
    }

    /// The subject of a command that came without a token.
    public static let anonymousSubject = "anonymous"
}

/// An event as the store holds it.
public struct RecordedEvent: Equatable, Sendable {
    public var streamID: UUID
    public var version: Int
    public var token: ConsistencyToken
    public var event: EncodedEvent
    public var recordedAt: Date
    public var metadata: EventMetadata
}

/// The idempotency key of a command and the fingerprint of the request that carried it.
public struct IdempotencyKey: Equatable, Sendable {
    public var key: String
    public var requestHash: String
    public init(key: String, requestHash: String) {
        self.key = key
        self.requestHash = requestHash
    }
}

/// The events one earlier command appended, found by its idempotency key.
public struct CommittedCommand: Equatable, Sendable {
    public var requestHash: String
    public var events: [RecordedEvent]
    /// Who sent it.
    public var subject: String { events[0].metadata.subject }
    public var streamID: UUID { events[0].streamID }
    public var version: Int { events[events.count - 1].version }
    public var token: ConsistencyToken { events[events.count - 1].token }
}

extension CommittedCommand {
    /// Why a command with `idempotency`'s key, sent by `subject`, is not appended again: a retry of this
    /// one (same subject, same request), a different request reusing the key, or another subject's key.
    public func refusal(of idempotency: IdempotencyKey, by subject: String) -> AppendError {
        guard self.subject == subject else { return .idempotencyKeyOfAnotherSubject }
        return requestHash == idempotency.requestHash ? .duplicate(self) : .idempotencyKeyReused
    }
}

public enum AppendError: Error, Sendable {
    /// The stream is not at the expected version (another writer got there first).
    case versionConflict
    /// The key was used before, by a request with the same fingerprint: this is a retry of that command.
    case duplicate(CommittedCommand)
    /// The key was used before by a different request.
    case idempotencyKeyReused
    /// The key was used before by another subject: never a retry, whatever the request, and its result is
    /// not theirs to see.
    case idempotencyKeyOfAnotherSubject
}

public struct AppendResult: Equatable, Sendable {
    public var events: [RecordedEvent]
    public var version: Int { events[events.count - 1].version }
    /// The token of the command's last event.
    public var token: ConsistencyToken { events[events.count - 1].token }
}

/// Why the event log could not answer, beyond `AppendError`'s refusals: what a caller needs to tell its
/// client, without knowing PostgreSQL. Each carries the database's error, redacted, for the log.
public enum EventStoreError: Error, Sendable, CustomStringConvertible {
    /// The primary cannot be reached, or the connection was lost (for a write: its outcome unknown).
    case unavailable(String)
    /// The statement timeout ended the statement and rolled its transaction back: nothing was applied.
    case timedOut(String)
    /// A deadlock or serialization failure, or the server short of a resource (disk, memory, connections):
    /// rolled back, and the same request may well succeed later.
    case transient(String)

    /// The failure a PostgreSQL error means here, nil for one no caller can act on (a bug: it goes on as it is).
    init?(_ error: PostgresError) {
        if error.isUnavailable {
            self = .unavailable(error.description)
        } else if error.sqlState == PostgresError.queryCanceled {
            self = .timedOut(error.description)
        } else if error.isTransient {
            self = .transient(error.description)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .unavailable(let error): "unavailable: \(error)"
        case .timedOut(let error): "timed out: \(error)"
        case .transient(let error): "refused for now: \(error)"
        }
    }
}

/// The album event log on the primary. Appends are single statements, so each is one transaction.
/// Its methods that take no session throw `AppendError`, `EventStoreError`, or (for a bug) the database's
/// error; those that run in a caller's session (the projector's) throw the database's errors as they are.
public struct EventStore: Sendable {
    private let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Appends `events` to a stream that must be at `expectedVersion` (0: the stream must not exist).
    /// The versions, the expected-version check and the idempotency key are all enforced by the one INSERT.
    public func append(
        to stream: UUID,
        expectedVersion: Int,
        events: [EncodedEvent],
        metadata: EventMetadata,
        idempotency: IdempotencyKey? = nil
    ) async throws -> AppendResult {
        try await Self.mappingErrors {
            try await client.withConnection {
                try await append(
                    to: stream,
                    expectedVersion: expectedVersion,
                    events: events,
                    metadata: metadata,
                    idempotency: idempotency,
                    in: $0
                )
            }
        }
    }

    /// The same in a transaction of its own, running `beforeCommit` with the result between the insert and
    /// the commit; if it throws, the transaction rolls back. If the append is refused, `beforeCommit` does
    /// not run and nothing is committed. It holds the transaction open for as long as `beforeCommit` runs,
    /// which holds back every commit-safe reader: it exists for tests and the ack-before-commit fault.
    public func append(
        to stream: UUID,
        expectedVersion: Int,
        events: [EncodedEvent],
        metadata: EventMetadata,
        idempotency: IdempotencyKey?,
        beforeCommit: (AppendResult) async throws -> Void
    ) async throws -> AppendResult {
        try await Self.mappingErrors {
            try await client.withTransaction { session in
                let result = try await append(
                    to: stream,
                    expectedVersion: expectedVersion,
                    events: events,
                    metadata: metadata,
                    idempotency: idempotency,
                    in: session
                )
                try await beforeCommit(result)
                return result
            }
        }
    }

    /// The same, inside a caller's session or transaction.
    public func append(
        to stream: UUID,
        expectedVersion: Int,
        events: [EncodedEvent],
        metadata: EventMetadata,
        idempotency: IdempotencyKey?,
        in session: PostgresSession
    ) async throws -> AppendResult {
        precondition(!events.isEmpty, "nothing to append")
        let outcome: Result<PostgresRows, PostgresError>
        do {
            outcome = .success(
                try await session.query(
                    """
                    WITH head AS (SELECT coalesce(max(version), 0) AS version FROM events WHERE stream_id = \(stream))
                    INSERT INTO events (stream_id, version, type, schema_version, data, idempotency_key, request_hash, metadata)
                    SELECT \(stream), head.version + e.n, e.type, e.schema_version, e.data::jsonb,
                           CASE WHEN e.n = 1 THEN \(idempotency?.key) END, CASE WHEN e.n = 1 THEN \(idempotency?.requestHash) END,
                           jsonb_build_object('subject', \(metadata.subject)::text, 'requestId', \(metadata.requestID)::text)
                    FROM head, unnest(\(events.map(\.type))::text[], \(events.map(\.schemaVersion))::int[],
                                      \(events.map { String(decoding: $0.data, as: UTF8.self) })::text[])
                               WITH ORDINALITY AS e(type, schema_version, data, n)
                    WHERE head.version = \(expectedVersion)
                    ORDER BY e.n
                    RETURNING version, txid::text, position, recorded_at, type, schema_version
                    """
                )
            )
        } catch {
            outcome = .failure(error)
        }
        let rows: PostgresRows
        switch outcome {
        case .success(let success):
            rows = success
        case .failure(let error):
            guard error.sqlState == PostgresError.uniqueViolation else { throw error }
            guard error.constraint == "events_idempotency_key", let idempotency else { throw AppendError.versionConflict }
            guard let earlier = try await command(withKey: idempotency.key, in: session) else { throw error }
            throw earlier.refusal(of: idempotency, by: metadata.subject)
        }
        guard rows.count == events.count else { throw AppendError.versionConflict }
        let recorded = try rows.map { row in
            let version = try row.decode(Int.self, at: 0)
            return RecordedEvent(
                streamID: stream,
                version: version,
                token: try token(row, transaction: 1, position: 2),
                event: events[version - expectedVersion - 1],
                recordedAt: try row.decode(Date.self, at: 3),
                metadata: metadata
            )
        }.sorted { $0.version < $1.version }
        return AppendResult(events: recorded)
    }

    /// Every event of a stream, in version order.
    public func readStream(_ stream: UUID) async throws -> [RecordedEvent] {
        try await Self.mappingErrors {
            try await client.query(
                """
                SELECT stream_id, version, txid::text, position, type, schema_version, data::text, recorded_at,
                       metadata->>'subject', metadata->>'requestId'
                FROM events WHERE stream_id = \(stream) ORDER BY version
                """
            ).map(Self.recordedEvent)
        }
    }

    /// A stream's version: its last event's, 0 when it has none. One index probe, not the stream.
    public func version(of stream: UUID) async throws -> Int {
        try await Self.mappingErrors {
            let rows = try await client.query("SELECT coalesce(max(version), 0)::bigint FROM events WHERE stream_id = \(stream)")
            return try rows.first?.decode(Int.self, at: 0) ?? 0
        }
    }

    /// The events of the command that used this idempotency key, if any.
    public func command(withKey key: String) async throws -> CommittedCommand? {
        try await Self.mappingErrors { try await client.withConnection { try await command(withKey: key, in: $0) } }
    }

    func command(withKey key: String, in session: PostgresSession) async throws -> CommittedCommand? {
        let rows = try await session.query(
            """
            SELECT e.stream_id, e.version, e.txid::text, e.position, e.type, e.schema_version, e.data::text, e.recorded_at,
                   e.metadata->>'subject', e.metadata->>'requestId', k.request_hash
            FROM events k JOIN events e ON e.stream_id = k.stream_id AND e.txid = k.txid
            WHERE k.idempotency_key = \(key)
            ORDER BY e.version
            """
        )
        guard let first = rows.first else { return nil }
        return CommittedCommand(requestHash: try first.decode(String?.self, at: 10) ?? "", events: try rows.map(Self.recordedEvent))
    }

    /// Up to `limit` events after `token`, in commit-safe order: only transactions below the oldest one
    /// still running are read, so no event can later appear behind one already returned.
    public func readAll(after token: ConsistencyToken, limit: Int) async throws -> [RecordedEvent] {
        try await Self.mappingErrors { try await client.withConnection { try await readAll(after: token, upTo: nil, limit: limit, in: $0) } }
    }

    /// The same inside a caller's session or transaction, optionally stopping at `end` (inclusive).
    public func readAll(
        after token: ConsistencyToken,
        upTo end: ConsistencyToken?,
        limit: Int,
        in session: PostgresSession
    ) async throws -> [RecordedEvent] {
        let end = end ?? ConsistencyToken(transaction: UInt64(Int64.max), position: Int64.max)
        return try await session.query(
            """
            SELECT stream_id, version, txid::text, position, type, schema_version, data::text, recorded_at,
                       metadata->>'subject', metadata->>'requestId'
            FROM events
            WHERE (txid, position) > (\(String(token.transaction))::xid8, \(Int(token.position)))
              AND (txid, position) <= (\(String(end.transaction))::xid8, \(Int(end.position)))
              AND txid < pg_snapshot_xmin(pg_current_snapshot())
            -- Qualified: a bare "txid" would name the text output column and sort 99999 after 100000.
            ORDER BY events.txid, events.position
            LIMIT \(limit)
            """
        ).map(Self.recordedEvent)
    }

    /// Whether a commit-safe reader would find any event after `token` now: a cheap probe before a batch.
    ///
    /// It reads the first event after `token` in commit order (one entry of the index) and asks whether a
    /// commit-safe reader sees it; later events have later transactions, so none is visible if it is not.
    /// Not `EXISTS (... WHERE (txid, position) > $1 AND txid < xmin)`: a prepared statement gets a generic
    /// plan after five runs, and for that one the planner, expecting a third of the table to match, chose
    /// a sequential scan that stops at the first match, which an idle projector never has: every 10 ms
    /// poll read the whole log (12 ms at 37,000 events, half a core of the primary while idle).
    public func hasEvents(after token: ConsistencyToken, in session: PostgresSession) async throws -> Bool {
        let rows = try await session.query(
            """
            SELECT txid < pg_snapshot_xmin(pg_current_snapshot())
            FROM events
            WHERE (txid, position) > (\(String(token.transaction))::xid8, \(Int(token.position)))
            ORDER BY events.txid, events.position
            LIMIT 1
            """
        )
        return try rows.first?.decode(Bool.self, at: 0) ?? false
    }

    /// The token of the last event a commit-safe reader can see now.
    public func head() async throws -> ConsistencyToken {
        try await Self.mappingErrors { try await client.withConnection { try await head(in: $0) } }
    }

    public func head(in session: PostgresSession) async throws -> ConsistencyToken {
        let rows = try await session.query(
            """
            SELECT txid::text, position FROM events
            WHERE txid < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY events.txid DESC, events.position DESC LIMIT 1
            """
        )
        guard let row = rows.first else { return .origin }
        return try token(row, transaction: 0, position: 1)
    }

    /// Whether the event log can take commands: the primary answers and the schema is there.
    public enum Readiness: String, Sendable {
        case up
        case unreachable
        /// catalog-migrate has not run (or the role may not read the log).
        case schemaMissing = "schema missing"
    }

    public func readiness() async -> (Readiness, problem: String?) {
        do {
            try await client.query("SELECT 1 FROM events LIMIT 0")
            return (.up, nil)
        } catch let error as PostgresError {
            return (error.isUnavailable ? .unreachable : .schemaMissing, error.description)
        } catch {
            return (.unreachable, "\(error)")
        }
    }

    /// How the store's connections are used now (for the pool gauges of /metrics).
    public struct ConnectionUse: Equatable, Sendable {
        public var leased: Int
        public var idle: Int
        public var waiting: Int
    }

    public var connectionUse: ConnectionUse {
        let pool = client.poolStatistics
        return ConnectionUse(leased: pool.leased, idle: pool.idle, waiting: pool.waiting)
    }

    /// Runs `body`, turning the database's failures a caller can act on into `EventStoreError`s.
    private static func mappingErrors<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as PostgresError {
            throw EventStoreError(error) ?? error
        }
    }

    private static func recordedEvent(_ row: PostgresRow) throws -> RecordedEvent {
        RecordedEvent(
            streamID: try row.decode(UUID.self, at: 0),
            version: try row.decode(Int.self, at: 1),
            token: try EventStore.token(row, transaction: 2, position: 3),
            event: EncodedEvent(
                type: try row.decode(String.self, at: 4),
                schemaVersion: try row.decode(Int.self, at: 5),
                data: Data(try row.decode(String.self, at: 6).utf8)
            ),
            recordedAt: try row.decode(Date.self, at: 7),
            metadata: EventMetadata(
                subject: try row.decode(String?.self, at: 8) ?? EventMetadata.anonymousSubject,
                requestID: try row.decode(String?.self, at: 9)
            )
        )
    }

    private static func token(_ row: PostgresRow, transaction: Int, position: Int) throws -> ConsistencyToken {
        try ConsistencyToken(row, transaction: transaction, position: position)
    }

    private func token(_ row: PostgresRow, transaction: Int, position: Int) throws -> ConsistencyToken {
        try Self.token(row, transaction: transaction, position: position)
    }
}

extension ConsistencyToken {
    /// Reads a token from a row holding `txid::text` and `position` at the given columns.
    public init(_ row: PostgresRow, transaction: Int, position: Int) throws {
        guard let txid = UInt64(try row.decode(String.self, at: transaction)) else {
            throw PostgresError(code: .decoding, message: "txid is not a number")
        }
        self.init(transaction: txid, position: Int64(try row.decode(Int.self, at: position)))
    }
}
