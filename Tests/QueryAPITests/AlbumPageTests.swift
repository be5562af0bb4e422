import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import QueryAPI

extension Reply {
    var items: [[String: Any]] { json["items"] as? [[String: Any]] ?? [] }
    var nextCursor: String? { json["nextCursor"] as? String }
}

/// `text` for a query string: everything but unreserved characters percent-encoded.
func percentEncoded(_ text: String) -> String {
    text.addingPercentEncoding(
        withAllowedCharacters: CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    )!
}

extension TestClientProtocol {
    /// Every page of `query`, following nextCursor; the albums as (title, id) in the order served.
    func walk(_ query: String, limit: Int, token: ConsistencyToken) async throws -> [(title: String, id: String)] {
        var albums: [(title: String, id: String)] = []
        var cursor: String?
        repeat {
            let after = cursor.map { "&after=\($0)" } ?? ""
            let page = try await get("/albums?limit=\(limit)\(query)\(after)", headers: [.consistencyToken: token.description])
            guard page.status == .ok else {
                Issue.record("page \(albums.count / limit): \(page.status) \(page.text)")
                return albums
            }
            #expect(page.items.count <= limit)
            albums += page.items.map { ($0["title"] as? String ?? "", $0["id"] as? String ?? "") }
            cursor = page.nextCursor
        } while cursor != nil
        return albums
    }
}

func isStrictlyOrdered(_ albums: [(title: String, id: String)]) -> Bool {
    zip(albums, albums.dropFirst()).allSatisfy { a, b in
        a.title.utf8.lexicographicallyPrecedes(b.title.utf8) || (a.title == b.title && a.id < b.id)
    }
}

@Suite("query-api lists, search and history", .serialized, Cluster.needed)
struct AlbumPageTests {
    @Test("the list: summaries in (title, id) order, limits, q case-insensitive with literal wildcards, artist exact, archived left out")
    func listAndSearch() async throws {
        let catalog = try await ReadCatalog()
        do {
            try await catalog.run { client in
                var last = ConsistencyToken.origin
                var ids: [String: String] = [:]
                for (title, artist) in [
                    ("Blue Train", "John Coltrane"), ("Kind of Blue", "Miles Davis"), ("A Love Supreme", "John Coltrane"),
                    ("100% Blue", "Percent Band"), ("Blue_Print", "Under Score"), ("Blueprint", "Under Score"), ("Giant Steps", "John Coltrane"),
                    ("Same Title", "Miles Davis"), ("Same Title", "Bill Evans"), ("Bluesville", "MILES DAVIS"),
                ] {
                    let (id, token) = try await catalog.create(title, artist: artist, songs: [("One", 60), ("Two", 90)])
                    ids[title + "/" + artist] = id.description
                    last = token
                }
                let (archived, _) = try await catalog.create("Blue Archive", artist: "Miles Davis")
                last = try await catalog.store.append(
                    to: archived.uuid,
                    expectedVersion: 1,
                    events: [AlbumEvent.archived(AlbumArchived()).encoded()],
                    metadata: .test
                )
                .token
                let headers: HTTPFields = [.consistencyToken: last.description]

                let all = try await client.get("/albums", headers: headers)
                #expect(all.status == .ok, "\(all.text)")
                #expect(all.header("Content-Type") == "application/json")
                #expect(all.header("Cache-Status") == "catalog; fwd=bypass")
                #expect(try #require(all.header("As-Of").flatMap(ConsistencyToken.init)) >= last)
                #expect(all.items.count == 10)
                #expect(all.nextCursor == nil)
                let titles = all.items.map { $0["title"] as? String ?? "" }
                #expect(titles.first == "100% Blue")
                #expect(!titles.contains("Blue Archive"))
                #expect(isStrictlyOrdered(all.items.map { ($0["title"] as? String ?? "", $0["id"] as? String ?? "") }))
                let summary = try #require(all.items.first { $0["title"] as? String == "Kind of Blue" })
                #expect(Set(summary.keys) == ["id", "title", "artist", "releaseYear", "songCount", "version"])
                #expect(summary["songCount"] as? Int == 2)
                #expect(summary["version"] as? Int == 1)
                #expect(summary["id"] as? String == ids["Kind of Blue/Miles Davis"])

                // Pages of 3 walk the same albums.
                let walked = try await client.walk("", limit: 3, token: last)
                #expect(walked.map(\.title) == titles)

                func search(_ query: String) async throws -> [String] {
                    let reply = try await client.get("/albums?\(query)", headers: headers)
                    #expect(reply.status == .ok, "\(query): \(reply.text)")
                    return reply.items.map { "\($0["title"] as? String ?? "")/\($0["artist"] as? String ?? "")" }
                }
                #expect(try await search("q=blue").count == 6)
                #expect(try await search("q=BLUE").count == 6)
                #expect(try await search("q=miles+davis") == ["Bluesville/MILES DAVIS", "Kind of Blue/Miles Davis", "Same Title/Miles Davis"])
                // % and _ are literal characters in q, not wildcards.
                #expect(try await search("q=\(percentEncoded("%"))") == ["100% Blue/Percent Band"])
                #expect(try await search("q=\(percentEncoded("e_P"))") == ["Blue_Print/Under Score"])
                #expect(try await search("q=\(percentEncoded("'; DROP TABLE read_model.album_views; --"))").isEmpty)
                #expect(
                    try await search("artist=John+Coltrane") == [
                        "A Love Supreme/John Coltrane", "Blue Train/John Coltrane", "Giant Steps/John Coltrane",
                    ]
                )
                #expect(try await search("artist=john+coltrane").isEmpty)
                #expect(try await search("artist=John+Coltrane&q=blue") == ["Blue Train/John Coltrane"])
                #expect(try await search("q=").count == 10)
                let two = try await client.get("/albums?artist=John+Coltrane&limit=2", headers: headers)
                #expect(two.items.count == 2)
                let cursor = try #require(two.nextCursor)
                let rest = try await client.get("/albums?limit=2&artist=John+Coltrane&after=\(cursor)", headers: headers)
                #expect(rest.items.map { $0["title"] as? String } == ["Giant Steps"])
                #expect(rest.nextCursor == nil)
                // The cursor belongs to its query.
                let foreign = try await client.get("/albums?artist=Miles+Davis&after=\(cursor)", headers: headers)
                #expect(foreign.status == .badRequest)
                #expect(foreign.json["detail"] as? String == "after: the cursor belongs to another query (q or artist differ)")
                #expect(try await client.get("/albums?after=\(cursor)").status == .badRequest)
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("walking every page while writes go on returns each album exactly once, in order")
    func walkWhileWriting() async throws {
        let catalog = try await ReadCatalog()
        do {
            try await catalog.run { client in
                var existing: [String: (title: String, artist: String)] = [:]
                var last = ConsistencyToken.origin
                for index in 0..<150 {
                    // Some titles repeat, so that ties are broken by id across page boundaries.
                    let (title, artist) = ("Walk \(index % 60)", index % 2 == 0 ? "Even" : "Odd")
                    let (id, token) = try await catalog.create(title, artist: artist)
                    existing[id.description] = (title, artist)
                    last = token
                }
                let (added, walks) = try await withThrowingTaskGroup(of: [String].self) { group in
                    // Writers: new albums (some before, some after any page), and songs added to existing ones.
                    group.addTask {
                        var created: [String] = []
                        for index in 0..<60 {
                            let (id, _) = try await catalog.create(index % 2 == 0 ? "Walk \(index)x" : "A walk \(index)")
                            created.append(id.description)
                        }
                        return created
                    }
                    let everything = try await client.walk("", limit: 7, token: last)
                    let search = try await client.walk("&q=walk+1", limit: 4, token: last)
                    let odd = try await client.walk("&artist=Odd", limit: 9, token: last)
                    let created = try await group.next() ?? []
                    return (Set(created), [everything, search, odd])
                }
                let expectations: [Set<String>] = [
                    Set(existing.keys),
                    Set(existing.filter { $0.value.title.lowercased().contains("walk 1") }.keys),
                    Set(existing.filter { $0.value.artist == "Odd" }.keys),
                ]
                #expect(expectations[1].count == 33 && expectations[2].count == 75)
                for (walk, expected) in zip(walks, expectations) {
                    let served = Set(walk.map(\.id))
                    #expect(isStrictlyOrdered(walk))
                    #expect(served.count == walk.count, "an album was served twice")
                    // Every album that existed throughout is there, once; any other was created meanwhile.
                    #expect(expected.isSubset(of: served))
                    #expect(served.subtracting(expected).isSubset(of: added))
                }
                #expect(walks[1].allSatisfy { $0.title.lowercased().contains("walk 1") })
                #expect(walks[2].count == 75)
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("an album's history: its events in order, upcast to the current schema, paged; 404 for an unknown album")
    func history() async throws {
        let catalog = try await ReadCatalog()
        do {
            try await catalog.run { client in
                let id = AlbumID()
                // AlbumCreated v1 named the year `year` and had no songs.
                _ = try await catalog.store.append(
                    to: id.uuid,
                    expectedVersion: 0,
                    events: [
                        EncodedEvent(
                            type: "AlbumCreated",
                            schemaVersion: 1,
                            data: Data(#"{"title":"Blue Train","artist":"John Coltrane","year":1957}"#.utf8)
                        )
                    ],
                    // Anyone's text, shown as JSON strings: a quote, a backslash, a control character.
                    metadata: EventMetadata(subject: "user:\"ada\" \\ \u{1}", requestID: "req-1")
                )
                var token = ConsistencyToken.origin
                for (version, title) in ["Moment's Notice", "Locomotion", "I'm Old Fashioned"].enumerated() {
                    let added = AlbumEvent.songAdded(SongAdded(songId: SongID(), title: title, durationSeconds: 400, position: version))
                    token = try await catalog.store.append(to: id.uuid, expectedVersion: version + 1, events: [added.encoded()], metadata: .test)
                        .token
                }
                token = try await catalog.store.append(
                    to: id.uuid,
                    expectedVersion: 4,
                    events: [AlbumEvent.archived(AlbumArchived()).encoded()],
                    metadata: .test
                )
                .token
                let headers: HTTPFields = [.consistencyToken: token.description]

                let whole = try await client.get("/albums/\(id)/history", headers: headers)
                #expect(whole.status == .ok, "\(whole.text)")
                #expect(whole.header("Cache-Status") == "catalog; fwd=bypass")
                let events = whole.json["events"] as? [[String: Any]] ?? []
                #expect(events.map { $0["version"] as? Int } == [1, 2, 3, 4, 5])
                #expect(events.map { $0["type"] as? String } == ["AlbumCreated", "SongAdded", "SongAdded", "SongAdded", "AlbumArchived"])
                #expect((events.first?["recordedAt"] as? String)?.hasSuffix("Z") == true)
                let created = events.first?["data"] as? [String: Any] ?? [:]
                #expect(created["releaseYear"] as? Int == 1957, "AlbumCreated v1 is shown upcast: \(created)")
                #expect(created["year"] == nil)
                #expect((events[1]["data"] as? [String: Any])?["title"] as? String == "Moment's Notice")
                #expect(whole.json["nextCursor"] is NSNull)
                #expect(events.first?["subject"] as? String == "user:\"ada\" \\ \u{1}", "\(whole.text)")
                #expect(events.first?["requestId"] as? String == "req-1")
                #expect(events.dropFirst().allSatisfy { $0["subject"] as? String == "test" && $0["requestId"] is NSNull }, "\(whole.text)")

                var versions: [Int] = []
                var cursor: String?
                repeat {
                    let page = try await client.get("/albums/\(id)/history?limit=2" + (cursor.map { "&after=\($0)" } ?? ""), headers: headers)
                    #expect(page.status == .ok)
                    versions += (page.json["events"] as? [[String: Any]] ?? []).compactMap { $0["version"] as? Int }
                    cursor = page.json["nextCursor"] as? String
                } while cursor != nil && versions.count < 10
                #expect(versions == [1, 2, 3, 4, 5])

                let first = try await client.get("/albums/\(id)/history?limit=1", headers: headers)
                let other = AlbumID()
                let foreign = try await client.get("/albums/\(other)/history?after=\(try #require(first.json["nextCursor"] as? String))")
                #expect(foreign.status == .badRequest)
                let listCursor = try await client.get("/albums?limit=1&after=\(try #require(first.json["nextCursor"] as? String))")
                #expect(listCursor.status == .badRequest)
                let unknown = try await client.get("/albums/\(other)/history")
                #expect(unknown.status == .notFound)
                #expect(unknown.header("Content-Type") == "application/problem+json")
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("malformed, oversized, wrong-type and hostile parameters get 400 with a problem, never a 5xx")
    func hostileParameters() async throws {
        let catalog = try await ReadCatalog()
        do {
            try await catalog.run { client in
                let (id, token) = try await catalog.create("Hostile")
                _ = try await client.get("/albums/\(id)", headers: [.consistencyToken: token.description])
                let long = String(repeating: "x", count: 201)
                let cursor = PageCursor.albums(query: PageCursor.fingerprint(q: nil, artist: nil), title: "Hostile", id: UUID()).encoded
                for query in [
                    "limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1e3", "limit=99999999999999999999", "limit=2.5", "limit=%20",
                    "limit=", "limit", "limit=1&limit=2", "unknown=1", "LIMIT=1", "q=%ZZ", "q=%F", "q=%FF", "q=%C3%28", "q=%00", "q=a%0Ab",
                    "artist=%7F",
                    "q=\(long)", "artist=\(long)", "after=not-a-cursor", "after=%25%25", "after=\(String(repeating: "A", count: 3000))",
                    "after=" + PageCursor.history(album: UUID(), version: 1).encoded, "after=" + cursor + "&q=other",
                    // A cursor whose title holds a NUL or is empty; base64url of "a1\n0\n<uuid>\n".
                    "after=" + Data("a1\nabc\n\(UUID().uuidString)\n\u{0}".utf8).base64EncodedString(),
                    "after=" + Data("a1\nabc\n\(UUID().uuidString)\n".utf8).base64EncodedString(),
                    String(repeating: "q=a&", count: 2000),
                ] {
                    let reply = try await client.get("/albums?\(query)")
                    #expect(reply.status == .badRequest, "\(query.prefix(80)): \(reply.status) \(reply.text)")
                    #expect(reply.header("Content-Type") == "application/problem+json", "\(query.prefix(80))")
                }
                for query in ["limit=0", "limit=", "after=x", "q=blue", "after=" + cursor] {
                    let reply = try await client.get("/albums/\(id)/history?\(query)")
                    #expect(reply.status == .badRequest, "history \(query): \(reply.status) \(reply.text)")
                }
                // A valid cursor of this query, even one made up, only positions the page.
                let madeUp = try await client.get("/albums?after=\(cursor)")
                #expect(madeUp.status == .ok, "\(madeUp.text)")
                for query in ["q=%E2%9C%93", "q=%F0%9F%8E%B5", "artist=%C3%A9", "q=%5C", "q=%5C%25", "limit=100", "limit=007"] {
                    let reply = try await client.get("/albums?\(query)")
                    #expect(reply.status == .ok, "\(query): \(reply.status) \(reply.text)")
                }
                for path in ["/albums/not-a-uuid/history", "/albums/%00/history"] {
                    #expect(try await client.get(path).status == .badRequest, "\(path)")
                }
                let wrongMethod = try await client.execute(uri: "/albums", method: .delete, headers: [:]) { $0.status }
                #expect(wrongMethod == .methodNotAllowed)
                let document = try await client.get("/openapi.json")
                #expect(document.status == .ok)
                #expect(document.json["openapi"] as? String == "3.1.0")
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }
}

@Suite("Page cursors and query strings")
struct PageCursorTests {
    @Test("cursors round-trip; anything else does not decode")
    func cursors() {
        let list = PageCursor.albums(query: 42, title: "Kind of Blue — 1959 / ünïcödé", id: UUID())
        #expect(PageCursor(encoded: list.encoded) == list)
        let history = PageCursor.history(album: UUID(), version: 17)
        #expect(PageCursor(encoded: history.encoded) == history)
        #expect(!list.encoded.contains("="))
        for bad in ["", "!!!", "YTE", "aDEKeHl6CjE", String(repeating: "A", count: 3000)] {
            #expect(PageCursor(encoded: bad) == nil, "\(bad)")
        }
        #expect(PageCursor.fingerprint(q: "a", artist: nil) != PageCursor.fingerprint(q: nil, artist: "a"))
        #expect(PageCursor.fingerprint(q: "a", artist: "b") == PageCursor.fingerprint(q: "a", artist: "b"))
    }

    @Test("query strings: percent-decoding, + as a space, duplicates and unknown names refused")
    func queryStrings() throws {
        let query = try QueryString("q=kind+of%20blue&limit=5", allowed: ["q", "limit"])
        #expect(try query.text("q", maxCharacters: 200) == "kind of blue")
        #expect(try query.integer("limit", in: 1...100, default: 20) == 5)
        #expect(try QueryString(nil, allowed: []).integer("limit", in: 1...100, default: 20) == 20)
        #expect(throws: Problem.self) { try QueryString("q=1&q=2", allowed: ["q"]) }
        #expect(throws: Problem.self) { try QueryString("x=1", allowed: ["q"]) }
        #expect(throws: Problem.self) { try QueryString("q=%G0", allowed: ["q"]) }
        // `&` and `=` followed by a combining mark still separate parameters and values.
        let marked = try QueryString("q=a&\u{301}limit=5", allowed: ["q", "limit", "\u{301}limit"])
        #expect(try marked.text("q", maxCharacters: 200) == "a")
        #expect(throws: Problem.self) { try QueryString("q=a&\u{301}x=1", allowed: ["q"]) }
    }
}

@Suite("query-api OpenAPI document")
struct QueryOpenAPITests {
    @Test("every route and method is documented, and nothing else")
    func documentMatchesRoutes() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        for (path, methods) in routeTable {
            let openAPIPath = path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            let documented = paths["/" + openAPIPath]
            #expect(documented != nil, "\(path) is not documented")
            #expect(Set(documented?.keys.map { $0 } ?? []) == Set(methods.map { $0.rawValue.lowercased() }), "\(path)")
        }
        #expect(paths.count == routeTable.count)
    }

    /// The document is checked by openapi-spec-validator (from PyPI, installed by scripts/install-deps).
    @Test("the document is valid OpenAPI 3.1")
    func valid() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("query-api-\(UUID()).json")
        try Data(OpenAPIDocument.json.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await ChildProcess.runDetached(
            "/usr/bin/env",
            arguments: ["python3", "-m", "openapi_spec_validator", file.path],
            environment: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        )
        #expect(result.status == 0, "\(result.output)")
    }
}
