import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Postgres
import Testing

@testable import CommandAPI

@Suite(Cluster.needed) struct ClientErrorTests {
    @Test func malformedJSONIs400() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            for body in [
                "{", "not json", #"{"title":"x",}"#, "\u{FEFF}{}", "", "[1,2", #"{"title":"\ud800"}"#, #"{"title":"a","title":"b"}"#,
                "{\"releaseYear\":01}",
            ] {
                let reply = try await client.send(.post, "/albums", json: body)
                #expect(reply.status == .badRequest, "\(body): \(reply.text)")
                #expect(reply.headers[.contentType] == "application/problem+json")
            }
        }
    }

    @Test func aBodyThatIsNotJSONIs415() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            for type in ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"] {
                let reply = try await client.send(.post, "/albums", json: kindOfBlue, headers: [.contentType: type])
                #expect(reply.status == .unsupportedMediaType, "\(type)")
            }
            let missing = try await client.execute(uri: "/albums", method: .post, body: ByteBuffer(string: kindOfBlue)) { $0.status }
            #expect(missing == .unsupportedMediaType)
            #expect(
                try await client.send(.post, "/albums", json: kindOfBlue, headers: [.contentType: "application/json; charset=utf-8"]).status
                    == .created
            )
        }
    }

    @Test func aBodyOverTheLimitIs413() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let huge = #"{"title":"\#(String(repeating: "x", count: 300 * 1024))","artist":"a"}"#
            #expect(try await client.send(.post, "/albums", json: huge).status == .contentTooLarge)
        }
    }

    @Test func wrongTypesAndUnknownFieldsAre422WithTheirFields() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let cases: [(String, [String])] = [
                (#"{"title":5,"artist":"a"}"#, ["title"]),
                (#"{"title":"t"}"#, ["artist"]),
                (#"{"title":"t","artist":"a","releaseYear":"1959"}"#, ["releaseYear"]),
                (#"{"title":"t","artist":"a","releaseYear":1959.5}"#, ["releaseYear"]),
                (#"{"title":"t","artist":"a","releaseYear":true}"#, ["releaseYear"]),
                (#"{"title":"t","artist":"a","songs":{}}"#, ["songs"]),
                (#"{"title":"t","artist":"a","songs":[1]}"#, ["songs[0]"]),
                (#"{"title":"t","artist":"a","songs":[{"title":"s","extra":1}]}"#, ["songs[0].extra"]),
                (#"{"title":"t","artist":"a","Title":"x"}"#, ["Title"]),
                (#"[]"#, [""]),
                (#""just a string""#, [""]),
                (#"{"title":null,"artist":"a"}"#, ["title"]),
                (#"{"title":"t","artist":"a","releaseYear":99999999999999999999}"#, ["releaseYear"]),
                (#"{"title":"t","artist":"a","releaseYear":1e300}"#, ["releaseYear"]),
                (#"{"title":"t","artist":"a","releaseYear":-0.5}"#, ["releaseYear"]),
            ]
            for (body, fields) in cases {
                let reply = try await client.send(.post, "/albums", json: body)
                #expect(reply.status == .unprocessableContent, "\(body): \(reply.text)")
                #expect(reply.problemFields == fields, "\(body): \(reply.text)")
            }
        }
    }

    /// An integer field takes what JSON Schema calls an integer: any number with a zero fraction.
    @Test func integersWrittenWithAFractionOrExponentAreIntegers() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let body = #"{"title":"t","artist":"a","releaseYear":1959.0,"songs":[{"title":"s","durationSeconds":5.45e2}]}"#
            let reply = try await client.send(.post, "/albums", json: body)
            #expect(reply.status == .created, "\(reply.text)")
            let id = try #require(reply.id)
            let changed = try await client.send(.patch, "/albums/\(id)", json: #"{"releaseYear":1.96E+3}"#)
            #expect(changed.status == .ok, "\(changed.text)")
        }
    }

    @Test func everyValidationRuleIs422() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let tooMany = (0...500).map { #"{"title":"\#($0)"}"# }.joined(separator: ",")
            let cases: [(String, [String])] = [
                (#"{"title":"","artist":"a"}"#, ["title"]),
                (#"{"title":"   ","artist":"a"}"#, ["title"]),
                (#"{"title":"\#(String(repeating: "x", count: 201))","artist":"a"}"#, ["title"]),
                (#"{"title":"bell\u0007","artist":"a"}"#, ["title"]),
                (#"{"title":"t","artist":"esc\u001b[31m"}"#, ["artist"]),
                (#"{"title":"t","artist":"a","releaseYear":1859}"#, ["releaseYear"]),
                (#"{"title":"t","artist":"a","releaseYear":2101}"#, ["releaseYear"]),
                (#"{"title":"t","artist":"a","songs":[{"title":"s","durationSeconds":0}]}"#, ["songs[0].durationSeconds"]),
                (#"{"title":"t","artist":"a","songs":[{"title":"s","durationSeconds":86401}]}"#, ["songs[0].durationSeconds"]),
                (#"{"title":"t","artist":"a","songs":[\#(tooMany)]}"#, ["songs"]),
            ]
            for (body, fields) in cases {
                let reply = try await client.send(.post, "/albums", json: body)
                #expect(reply.status == .unprocessableContent, "\(body.prefix(80)): \(reply.text)")
                #expect(reply.problemFields == fields, "\(body.prefix(80)): \(reply.text)")
            }
            let id = try #require(try await client.send(.post, "/albums", json: kindOfBlue).id)
            #expect(try await client.send(.patch, "/albums/\(id)", json: "{}").status == .unprocessableContent)
            #expect(try await client.send(.post, "/albums/\(id)/songs", json: #"{"title":"x","trackNumber":9}"#).problemFields == ["trackNumber"])
            #expect(try await client.send(.put, "/albums/\(id)/track-order", json: #"{"songIds":["nope"]}"#).problemFields == ["songIds[0]"])
            #expect(try await client.send(.put, "/albums/\(id)/track-order", json: #"{"songIds":[]}"#).problemFields == ["songIds"])
        }
    }

    @Test func longAndUnicodeTextIsKeptExactly() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let title = String(repeating: "🎺", count: 200)
            let reply = try await client.send(
                .post,
                "/albums",
                json: #"{"title":"\#(title)","artist":"Björk Guðmundsdóttir — 日本語 \"quoted\" \\ ' ; DROP TABLE events; --"}"#
            )
            #expect(reply.status == .created, "\(reply.text)")
            // Text that starts with a combining mark or an emoji modifier: after the JSON's opening quote it
            // makes one Character with it (schemathesis found a 500 here).
            let marked = #"{"title":"\u0301x","artist":"\ud83c\udffb","songs":[{"title":"\u0301\"quoted\""}]}"#
            let created = try await client.send(.post, "/albums", json: marked)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.id)
            let client = try PostgresClient(configuration: .init(connectionString: try Cluster.value("CATALOG_PRIMARY")))
            let events = try await EventStore(client: client).readStream(UUID(uuidString: id)!).map { try AlbumEvent(decoding: $0.event) }
            let album = try #require(Album.fold(id: AlbumID(UUID(uuidString: id)!), events: events))
            #expect(album.title.unicodeScalars.elementsEqual("\u{301}x".unicodeScalars))
            #expect(album.artist == "\u{1F3FB}")
            #expect(album.songs.first?.title.unicodeScalars.elementsEqual("\u{301}\"quoted\"".unicodeScalars) == true)
        }
    }

    @Test func unknownAlbumsSongsRoutesAndMethodsAndInvalidIds() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let unknown = UUID().uuidString.lowercased()
            #expect(try await client.send(.patch, "/albums/\(unknown)", json: #"{"title":"x"}"#).status == .notFound)
            #expect(try await client.send(.delete, "/albums/\(unknown)").status == .notFound)
            #expect(try await client.send(.post, "/albums/\(unknown)/songs", json: #"{"title":"x"}"#).status == .notFound)
            for bad in ["not-a-uuid", "1", "%27%3B%20DROP", "00000000-0000-0000-0000-00000000000g"] {
                #expect(try await client.send(.patch, "/albums/\(bad)", json: #"{"title":"x"}"#).status == .badRequest, "\(bad)")
            }
            let id = try #require(try await client.send(.post, "/albums", json: kindOfBlue).id)
            #expect(try await client.send(.delete, "/albums/\(id)/songs/\(unknown)").status == .notFound)
            #expect(try await client.send(.patch, "/albums/\(id)/songs/\(unknown)", json: #"{"title":"x"}"#).status == .notFound)
            #expect(try await client.send(.delete, "/albums/\(id)/songs/nope").status == .badRequest)
            let route = try await client.send(.get, "/nowhere")
            #expect(route.status == .notFound)
            #expect(route.headers[.contentType] == "application/problem+json")
            let method = try await client.send(.get, "/albums")
            #expect(method.status == .methodNotAllowed)
            #expect(method.headers[.allow] == "POST")
            #expect(try await client.send(.put, "/albums/\(id)", json: "{}").status == .methodNotAllowed)
        }
    }

    @Test func hostileNestingIsRefusedNot5xx() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
            let reply = try await client.send(.post, "/albums", json: deep)
            #expect([.badRequest, .unprocessableContent, .contentTooLarge].contains(reply.status), "\(reply.status)")
            let wide = "{" + (0..<5000).map { #""k\#($0)":1"# }.joined(separator: ",") + "}"
            #expect(try await client.send(.post, "/albums", json: wide).status == .unprocessableContent)
        }
    }
}

@Suite(Cluster.needed) struct OperationalTests {
    @Test func healthMetricsAndTheOpenAPIDocument() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            #expect(try await client.send(.get, "/health/live").status == .ok)
            let ready = try await client.send(.get, "/health/ready")
            #expect(ready.status == .ok)
            #expect((ready.json["dependencies"] as? [String: Any])?["primary"] as? String == "up")
            _ = try await client.send(.post, "/albums", json: kindOfBlue)
            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.text.contains(#"catalog_commands_total{type="CreateAlbum",outcome="ok"}"#))
            #expect(metrics.text.contains("catalog_command_duration_seconds_bucket"))
            #expect(metrics.text.contains("catalog_postgres_pool_connections"))
            let document = try await client.send(.get, "/openapi.json")
            #expect(document.json["openapi"] as? String == "3.1.0")
            let paths = document.json["paths"] as? [String: [String: Any]] ?? [:]
            for (path, methods) in routeTable {
                let openAPIPath = path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
                let documented = paths["/" + openAPIPath]
                #expect(documented != nil, "\(path) is not documented")
                for method in methods {
                    #expect(documented?[method.rawValue.lowercased()] != nil, "\(method) \(path) is not documented")
                }
            }
            #expect(paths.count == routeTable.count)
        }
    }
}

@Suite struct OpenAPIValidityTests {
    /// The document is checked by openapi-spec-validator (from PyPI, installed by scripts/install-deps).
    @Test func theDocumentIsValidOpenAPI31() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("command-api-\(UUID()).json")
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
