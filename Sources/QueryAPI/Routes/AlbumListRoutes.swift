import CatalogCore
import Domain
import Foundation
import HTTPEdge
import Hummingbird
import NIOCore
import ReadModel

/// The list (with search) and an album's history: keyset pages, each read in one statement together with
/// the checkpoint of its snapshot, so that a page is never older than the client's token.
extension AlbumRoutes {
    static var pageLimits: ClosedRange<Int> { 1...100 }
    static var defaultPageLimit: Int { 20 }
    static var maxSearchCharacters: Int { 200 }

    func addPages(to routes: some RouterMethods<Context>) {
        routes.get("/albums") { request, _ in
            let query = try QueryString(request.uri.query, allowed: ["limit", "after", "q", "artist"])
            let limit = try query.integer("limit", in: Self.pageLimits, default: Self.defaultPageLimit)
            let search = try query.text("q", maxCharacters: Self.maxSearchCharacters)
            let artist = try query.text("artist", maxCharacters: Self.maxSearchCharacters)
            let fingerprint = PageCursor.fingerprint(q: search, artist: artist)
            var after: (title: String, id: UUID)?
            if let text = try query.text("after", maxCharacters: PageCursor.maxEncodedLength) {
                guard let cursor = PageCursor(encoded: text), case .albums(let query, let title, let id) = cursor else {
                    throw PageCursor.invalid("not a cursor of this list; send nextCursor exactly as a page gave it")
                }
                guard query == fingerprint else { throw PageCursor.invalid("the cursor belongs to another query (q or artist differ)") }
                after = (title, id)
            }
            let token = try Self.token(request)
            let list = AlbumReads.ListQuery(search: search, artist: artist, after: after, limit: limit)
            let (page, served) = try await Self.answering(await reads.list(list, token: token))
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
            let (history, served) = try await Self.answering(await reads.history(of: id, after: afterVersion, limit: limit, token: token))
            guard history.exists else {
                throw Self.problem(.albumNotFound, [.asOf: served.asOf.description, .servedBy: served.node])
            }
            let events = history.events
            let next = events.count > limit ? PageCursor.history(album: id, version: events[limit - 1].version) : nil
            let items = events.prefix(limit).map(\.json).joined(separator: ",")
            return Self.page(ByteBuffer(string: #"{"events":[\#(items)],"nextCursor":\#(next.map { "\"\($0.encoded)\"" } ?? "null")}"#), served)
        }
    }

    static func page(_ json: ByteBuffer, _ served: AlbumReads.Served) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json", .asOf: served.asOf.description, .servedBy: served.node, .cacheStatus: Self.noCache],
            body: .init(byteBuffer: json)
        )
    }
}

extension AlbumReads.HistoryEvent {
    /// The event as the history page shows it, in its current schema (older payloads are upcast, as the
    /// projections see them).
    var json: String {
        var data = stored.data
        if AlbumEvent.schemaVersions[stored.type] != stored.schemaVersion, let event = try? AlbumEvent(decoding: stored) {
            data = event.encoded().data
        }
        // The type is one of the event store's names and recordedAt is formatted by PostgreSQL: no escaping
        // needed. The subject (a token's) and the request id (perhaps a client's) are anyone's text.
        let requestID = requestID.map(Self.quoted) ?? "null"
        return
            #"{"version":\#(version),"type":"\#(stored.type)","recordedAt":"\#(recordedAt)","subject":\#(Self.quoted(subject)),"requestId":\#(requestID),"data":\#(String(decoding: data, as: UTF8.self))}"#
    }

    /// `text` as a JSON string (RFC 8259): quotes, backslashes and control characters escaped.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
