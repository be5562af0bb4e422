import CatalogCore
import Domain
import Foundation
import NIOCore
import Postgres
import ReplicaRouting

/// Every read query-api makes of the read model: each one statement that returns the data together with
/// the checkpoint of its snapshot, run on a node `ReplicaRouter` chooses for the client's token. The
/// statements, their rows' decoding and the mapping of their failures (`ReadModelError`) live here and
/// nowhere else; callers see albums, pages and tokens, never rows or SQLSTATEs.
public struct AlbumReads: Sendable {
    let replicas: ReplicaRouter
    /// How long a read waits for a node to reach the client's token.
    let tokenBudget: Duration

    public init(replicas: ReplicaRouter, tokenBudget: Duration) {
        self.replicas = replicas
        self.tokenBudget = tokenBudget
    }

    /// Where a read was answered and the checkpoint of the snapshot it read.
    public typealias Served = ReplicaRouter.Served

    // MARK: - An album's view

    /// An album's view: its JSON document as the projection wrote it, its version, and the checkpoint of
    /// the snapshot it was read in.
    public struct AlbumView: Sendable, Equatable {
        public enum State: Sendable, Equatable { case missing, archived, live }
        public var state: State
        public var version: Int
        public var asOf: ConsistencyToken
        /// Empty unless `state` is `.live`; shared with the result rather than copied into a String.
        public var document: ByteBuffer
    }

    /// The album as a node that has reached `token` holds it. A point lookup: it shares a pipelined connection.
    public func album(_ id: UUID, token: ConsistencyToken?) async throws -> (AlbumView, Served) {
        try await read(token: token, pipelined: true) { session -> (AlbumView, ConsistencyToken) in
            let rows = try await session.query(Statements.albumView(id))
            guard let row = rows.first, try row.decode(String?.self, at: 0) != nil else {
                return (AlbumView(state: .missing, version: 0, asOf: .origin, document: ByteBuffer()), .origin)
            }
            let asOf = try Self.token(row, transaction: 0, position: 1)
            guard let version = try row.decode(Int?.self, at: 2) else {
                return (AlbumView(state: .missing, version: 0, asOf: asOf, document: ByteBuffer()), asOf)
            }
            if try row.decode(Bool.self, at: 3) { return (AlbumView(state: .archived, version: version, asOf: asOf, document: ByteBuffer()), asOf) }
            guard let document = row.buffer(at: 4) else {
                throw PostgresError(code: .decoding, message: "column document is NULL for a live album")
            }
            return (AlbumView(state: .live, version: version, asOf: asOf, document: document), asOf)
        }
    }

    // MARK: - The list, with search

    /// Which albums a list page shows: all, by artist, by a search text in title or artist, or both, in
    /// (title, id) order after `after`.
    public struct ListQuery: Sendable {
        public var search: String?
        public var artist: String?
        public var after: (title: String, id: UUID)
        public var limit: Int

        public init(search: String?, artist: String?, after: (title: String, id: UUID)?, limit: Int) {
            self.search = search
            self.artist = artist
            self.after = after ?? ("", UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
            self.limit = limit
        }
    }

    /// A list page as its statement answered it: the albums' summaries (JSON objects), comma-separated,
    /// copied from the result as they are (no `String` per album), the sort key of the page's last album,
    /// and whether there is more. Only that last album's title and id are decoded.
    public struct ListPage: Sendable {
        public var items = ByteBuffer()
        public var last: (title: String, id: UUID)?
        public var more = false

        init() {}

        init(_ rows: PostgresRows, limit: Int) throws(PostgresError) {
            var count = 0
            for row in rows {
                // An empty page is one row of the checkpoint with NULL album columns.
                guard let summary = row.buffer(at: 4) else { continue }
                guard count < limit else {
                    more = true
                    break
                }
                if count > 0 { items.writeInteger(UInt8(ascii: ",")) }
                items.writeImmutableBuffer(summary)
                count += 1
                if count == limit { last = (try row.decode(String.self, at: 2), try row.decode(UUID.self, at: 3)) }
            }
        }
    }

    /// A page of the list. Pages lease an exclusive connection: pipelined, their p99 on two cores was three
    /// to four times the exclusive connections' (bench/reads, README "Benchmarks").
    public func list(_ query: ListQuery, token: ConsistencyToken?) async throws -> (ListPage, Served) {
        let statement = Statements.list(query)
        return try await read(token: token, pipelined: false) { session -> (ListPage, ConsistencyToken) in
            let rows = try await session.query(statement)
            // Every row carries the same checkpoint (one row of it, joined to each album).
            guard let first = rows.first else { return (ListPage(), .origin) }
            let asOf = try first.decode(String?.self, at: 0) == nil ? ConsistencyToken.origin : try Self.token(first, transaction: 0, position: 1)
            return (try ListPage(rows, limit: query.limit), asOf)
        }
    }

    // MARK: - An album's history

    /// One event of an album's history, as stored (its payload in the schema version it was written in).
    public struct HistoryEvent: Sendable {
        public var version: Int
        public var stored: EncodedEvent
        /// RFC 3339 in UTC with microseconds, as PostgreSQL formatted it.
        public var recordedAt: String
        /// Who caused it: the subject of the token its command came with (`anonymous` without one).
        public var subject: String
        /// The id of the request that carried its command; nil for events from before the audit trail.
        public var requestID: String?
    }

    /// A page of an album's history: whether the album exists as of the snapshot's checkpoint, and up to
    /// `limit + 1` of its events (one more than the page: whether there is a next page).
    public struct HistoryPage: Sendable {
        public var exists = false
        public var events: [HistoryEvent] = []
    }

    /// Up to `limit + 1` events of an album after `version`, only those the snapshot's checkpoint covers
    /// (so that the page matches its As-Of exactly).
    public func history(of id: UUID, after version: Int, limit: Int, token: ConsistencyToken?) async throws -> (HistoryPage, Served) {
        try await read(token: token, pipelined: false) { session -> (HistoryPage, ConsistencyToken) in
            var asOf = ConsistencyToken.origin
            var page = HistoryPage()
            for row in try await session.query(Statements.history(id, after: version, limit: limit + 1)) {
                guard try row.decode(String?.self, at: 0) != nil else { continue }
                asOf = try Self.token(row, transaction: 0, position: 1)
                page.exists = try row.decode(Bool.self, at: 2)
                guard let version = try row.decode(Int?.self, at: 3) else { continue }
                page.events.append(
                    HistoryEvent(
                        version: version,
                        stored: EncodedEvent(
                            type: try row.decode(String.self, at: 4),
                            schemaVersion: try row.decode(Int.self, at: 5),
                            data: Data(try row.decode(String.self, at: 6).utf8)
                        ),
                        recordedAt: try row.decode(String.self, at: 7),
                        subject: try row.decode(String?.self, at: 8) ?? "anonymous",
                        requestID: try row.decode(String?.self, at: 9)
                    )
                )
            }
            return (page, asOf)
        }
    }

    // MARK: - Routing and failures

    /// Runs `body` on a node chosen for `token`, and maps every failure a client can be told about to a
    /// `ReadModelError`; any other error (a bug, a row that does not decode) goes through unchanged.
    func read<Result: Sendable>(
        token: ConsistencyToken?,
        pipelined: Bool,
        _ body: (PostgresReader) async throws -> (Result, ConsistencyToken)
    ) async throws -> (Result, Served) {
        do {
            return try await replicas.read(token: token, budget: tokenBudget, pipelined: pipelined, body)
        } catch ReplicaRouter.RoutingError.unavailable {
            if let token, await replicas.neverIssued(token) { throw ReadModelError.tokenNeverIssued }
            throw token == nil ? ReadModelError.noNode : ReadModelError.tokenNotReached
        } catch let error as PostgresError {
            throw ReadModelError(error) ?? error
        }
    }

    static func token(_ row: PostgresRow, transaction: Int, position: Int) throws -> ConsistencyToken {
        guard let txid = UInt64(try row.decode(String.self, at: transaction)) else {
            throw PostgresError(code: .decoding, message: "txid is not a number")
        }
        return ConsistencyToken(transaction: txid, position: Int64(try row.decode(Int.self, at: position)))
    }
}

/// Why the read model could not answer: each a condition the client is told about (query-api answers 503
/// for all but `tokenNeverIssued`, which is the client's mistake).
public enum ReadModelError: Error, Equatable, Sendable {
    /// No node can answer now.
    case noNode
    /// No node reached the client's consistency token within the budget.
    case tokenNotReached
    /// The token is above anything the primary has ever issued: the client made it up or mangled it.
    case tokenNeverIssued
    /// The statement timeout ended the read (a search no index serves, on a busy node).
    case timedOut
    /// The read tables do not exist yet: `projections run` creates them.
    case notBuilt
    /// The node holds an older shape of the read tables than this version reads: `projections run`
    /// rebuilds them when it starts, and replication brings the new ones.
    case rebuilding

    /// The failure a PostgreSQL error means for a read, nil for one no client can act on.
    init?(_ error: PostgresError) {
        if error.isUnavailable {
            self = .noNode
            return
        }
        switch error.sqlState {
        case PostgresError.queryCanceled: self = .timedOut
        case PostgresError.undefinedTable: self = .notBuilt
        case PostgresError.undefinedColumn: self = .rebuilding
        default: return nil
        }
    }
}
