import Domain
import EventStore
import Foundation
import HTTPEdge
import Hummingbird
import NIOCore
import Postgres
import ReplicaRouting

/// The list (with search) and an album's history: keyset pages, each read in one statement together with
/// the checkpoint of its snapshot, so that a page is never older than the client's token.
extension AlbumRoutes {
    static var pageLimits: ClosedRange<Int> { 1...100 }
    static var defaultPageLimit: Int { 20 }
    static var maxSearchCharacters: Int { 200 }

    func addPages(to routes: Router<Context>) {
        routes.get("/albums") { request, _ in
            let query = try QueryString(request.uri.query, allowed: ["limit", "after", "q", "artist"])
            let limit = try query.integer("limit", in: Self.pageLimits, default: Self.defaultPageLimit)
            let search = try query.text("q", maxCharacters: Self.maxSearchCharacters)
            let artist = try query.text("artist", maxCharacters: Self.maxSearchCharacters)
            let fingerprint = PageCursor.fingerprint(q: search, artist: artist)
            var after = (title: "", id: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
            if let text = try query.text("after", maxCharacters: PageCursor.maxEncodedLength) {
                guard let cursor = PageCursor(encoded: text), case .albums(let query, let title, let id) = cursor else {
                    throw PageCursor.invalid("not a cursor of this list; send nextCursor exactly as a page gave it")
                }
                guard query == fingerprint else { throw PageCursor.invalid("the cursor belongs to another query (q or artist differ)") }
                after = (title, id)
            }
            let token = try Self.token(request)
            let statement = Self.listStatement(search: search, artist: artist, after: after, limit: limit + 1)
            let (page, served) = try await read(token: token, pipelined: false) { session -> (ListPage, ConsistencyToken) in
                let rows = try await session.query(statement)
                // Every row carries the same checkpoint (one row of it, joined to each album).
                guard let first = rows.first else { return (ListPage(), .origin) }
                let asOf =
                    try first.decode(String?.self, at: 0) == nil ? ConsistencyToken.origin : try ConsistencyToken(first, transaction: 0, position: 1)
                return (try ListPage(rows, limit: limit), asOf)
            }
            var body = ByteBuffer(string: #"{"items":["#)
            body.writeImmutableBuffer(page.items)
            if let last = page.last, page.more {
                body.writeString(#"],"nextCursor":""#)
                body.writeString(PageCursor.albums(query: fingerprint, title: last.title, id: last.id).encoded)
                body.writeString(#""}"#)
            } else {
                body.writeString(#"],"nextCursor":null}"#)
            }
            return Self.page(body, served)
        }

        routes.get("/albums/:id/history") { request, context in
            let id = try Self.albumID(context)
            let query = try QueryString(request.uri.query, allowed: ["limit", "after"])
            let limit = try query.integer("limit", in: Self.pageLimits, default: Self.defaultPageLimit)
            var afterVersion = 0
            if let text = try query.text("after", maxCharacters: PageCursor.maxEncodedLength) {
                guard let cursor = PageCursor(encoded: text), case .history(let album, let version) = cursor else {
                    throw PageCursor.invalid("not a cursor of an album's history; send nextCursor exactly as a page gave it")
                }
                guard album == id else { throw PageCursor.invalid("the cursor belongs to another album's history") }
                afterVersion = version
            }
            let token = try Self.token(request)
            let ((exists, events), served) = try await read(token: token, pipelined: false) { session -> ((Bool, [HistoryEvent]), ConsistencyToken) in
                var asOf = ConsistencyToken.origin
                var exists = false
                var events: [HistoryEvent] = []
                for row in try await session.query(Self.historyStatement(id, after: afterVersion, limit: limit + 1)) {
                    guard try row.decode(String?.self, at: 0) != nil else { continue }
                    asOf = try ConsistencyToken(row, transaction: 0, position: 1)
                    exists = try row.decode(Bool.self, at: 2)
                    guard let version = try row.decode(Int?.self, at: 3) else { continue }
                    events.append(
                        HistoryEvent(
                            version: version,
                            stored: EncodedEvent(
                                type: try row.decode(String.self, at: 4),
                                schemaVersion: try row.decode(Int.self, at: 5),
                                data: Data(try row.decode(String.self, at: 6).utf8)
                            ),
                            recordedAt: try row.decode(String.self, at: 7)
                        )
                    )
                }
                return ((exists, events), asOf)
            }
            guard exists else {
                throw Self.problem(.albumNotFound, [.asOf: served.asOf.description, .servedBy: served.node])
            }
            let next = events.count > limit ? PageCursor.history(album: id, version: events[limit - 1].version) : nil
            let items = events.prefix(limit).map(\.json).joined(separator: ",")
            return Self.page(ByteBuffer(string: #"{"events":[\#(items)],"nextCursor":\#(next.map { "\"\($0.encoded)\"" } ?? "null")}"#), served)
        }
    }

    static func page(_ json: ByteBuffer, _ served: ReplicaRouter.Served) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json", .asOf: served.asOf.description, .servedBy: served.node, .cacheStatus: Self.noCache],
            body: .init(byteBuffer: json)
        )
    }

    /// A list page as its statement answered it: the albums' summaries, comma-separated, copied from the
    /// result as they are (no `String` per album), the sort key of the page's last album, and whether the
    /// statement found one more (it asks for `limit + 1`). Only that last album's title and id are decoded.
    struct ListPage: Sendable {
        var items = ByteBuffer()
        var last: (title: String, id: UUID)?
        var more = false

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

    /// One event of an album's history, shown in its current schema (older payloads are upcast, as the
    /// projections see them).
    struct HistoryEvent: Sendable {
        var version: Int
        var stored: EncodedEvent
        var recordedAt: String

        var json: String {
            var data = stored.data
            if AlbumEvent.schemaVersions[stored.type] != stored.schemaVersion, let event = try? AlbumEvent(decoding: stored) {
                data = event.encoded().data
            }
            // The type is one of the event store's names and recordedAt is formatted by PostgreSQL: no escaping needed.
            return #"{"version":\#(version),"type":"\#(stored.type)","recordedAt":"\#(recordedAt)","data":\#(String(decoding: data, as: UTF8.self))}"#
        }
    }

    /// The list's statement: the checkpoint, then up to `limit` albums after the cursor, in (title, id)
    /// order. One statement per filter so that each uses its index: (title, id), (artist, title, id), or
    /// the trigram index for `q`.
    static func listStatement(search: String?, artist: String?, after: (title: String, id: UUID), limit: Int) -> PostgresQuery {
        let query = listQuery(search: search, artist: artist, after: after, limit: limit)
        // Without q, one plan serves every page (an index walk from the cursor): generic, so the server
        // does not plan it again per page. With q, the pattern decides between the trigram index and a
        // walk of the title index, so the server plans for each pattern.
        return search == nil ? query.planned(.generic) : query
    }

    private static func listQuery(search: String?, artist: String?, after: (title: String, id: UUID), limit: Int) -> PostgresQuery {
        let head = """
            SELECT c.txid::text, c.position, v.title, v.id, v.summary
            FROM (SELECT 1) one
            LEFT JOIN read_model.projection_checkpoints c ON c.projection = 'albums'
            LEFT JOIN LATERAL (
                SELECT v.title, v.id,
                       json_build_object('id', v.id, 'title', v.title, 'artist', v.artist, 'releaseYear', v.release_year,
                                         'songCount', v.song_count, 'version', v.version)::text AS summary
                FROM read_model.album_views v
                WHERE NOT v.archived
            """
        let tail = ") v ON true ORDER BY v.title, v.id"
        switch (search.map(likePattern), artist) {
        case (nil, nil):
            return """
                \(unsafeSQL: head) AND (v.title, v.id) > (\(after.title), \(after.id))
                ORDER BY v.title, v.id LIMIT \(limit) \(unsafeSQL: tail)
                """
        case (nil, let artist?):
            return """
                \(unsafeSQL: head) AND v.artist = \(artist) AND (v.artist, v.title, v.id) > (\(artist), \(after.title), \(after.id))
                ORDER BY v.artist, v.title, v.id LIMIT \(limit) \(unsafeSQL: tail)
                """
        case (let pattern?, nil):
            return """
                \(unsafeSQL: head) AND (v.title ILIKE \(pattern) OR v.artist ILIKE \(pattern)) AND (v.title, v.id) > (\(after.title), \(after.id))
                ORDER BY v.title, v.id LIMIT \(limit) \(unsafeSQL: tail)
                """
        case (let pattern?, let artist?):
            return """
                \(unsafeSQL: head) AND v.artist = \(artist) AND (v.title ILIKE \(pattern) OR v.artist ILIKE \(pattern))
                  AND (v.artist, v.title, v.id) > (\(artist), \(after.title), \(after.id))
                ORDER BY v.artist, v.title, v.id LIMIT \(limit) \(unsafeSQL: tail)
                """
        }
    }

    /// `%text%` for ILIKE, with the pattern characters of `text` escaped (backslash is ILIKE's escape).
    static func likePattern(_ text: String) -> String {
        // Scalar by scalar: `%` followed by a combining mark is one Character, which a Character
        // comparison would leave unescaped.
        var pattern = String.UnicodeScalarView()
        pattern.append("%")
        for scalar in text.unicodeScalars {
            if scalar == "%" || scalar == "_" || scalar == "\\" { pattern.append("\\") }
            pattern.append(scalar)
        }
        pattern.append("%")
        return String(pattern)
    }

    /// The history's statement: the checkpoint, whether the album exists as of it, and up to `limit` of its
    /// events after `after`, only those the checkpoint covers (so that the page matches As-Of exactly).
    /// One plan serves every album and page: generic.
    static func historyStatement(_ id: UUID, after: Int, limit: Int) -> PostgresQuery {
        let query: PostgresQuery = """
            SELECT c.txid::text, c.position,
                   EXISTS (SELECT 1 FROM read_model.album_history f
                           WHERE f.album_id = \(id) AND f.version = 1 AND (f.txid, f.position) <= (c.txid, c.position)),
                   h.version, h.type, h.schema_version, h.data::text,
                   to_char(h.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            FROM (SELECT 1) one
            LEFT JOIN read_model.projection_checkpoints c ON c.projection = 'albums'
            LEFT JOIN LATERAL (
                SELECT h.version, h.type, h.schema_version, h.data, h.recorded_at
                FROM read_model.album_history h
                WHERE h.album_id = \(id) AND h.version > \(after) AND (h.txid, h.position) <= (c.txid, c.position)
                ORDER BY h.version LIMIT \(limit)
            ) h ON true
            ORDER BY h.version
            """
        return query.planned(.generic)
    }
}
