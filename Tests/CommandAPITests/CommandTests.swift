import ClusterHarness
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CommandAPI

@Suite(Cluster.needed) struct CommandTests {
    @Test func everyCommandOfTheContractWorksInTurn() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let created = try await client.send(.post, "/albums", json: kindOfBlue, headers: [HTTPField.Name("Request-Id")!: "trace-42"])
            #expect(created.status == .created)
            #expect(created.version == 1)
            #expect(created.headers[.eTag] == "\"1\"")
            #expect(created.headers[HTTPField.Name("Request-Id")!] == "trace-42")
            let id = try #require(created.id)
            #expect(created.headers[.location] == "/albums/\(id)")
            var lastToken = try #require(created.token)

            func check(_ reply: Reply, _ status: HTTPResponse.Status, version: Int) throws {
                #expect(reply.status == status, "\(reply.text)")
                #expect(reply.version == version)
                #expect(reply.headers[.eTag] == "\"\(version)\"")
                let token = try #require(reply.token)
                #expect(token > lastToken)
                lastToken = token
            }

            try check(try await client.send(.patch, "/albums/\(id)", json: #"{"title":"Kind of Blue (Legacy)","releaseYear":null}"#), .ok, version: 2)
            let added = try await client.send(.post, "/albums/\(id)/songs", json: #"{"title":"Blue in Green","durationSeconds":337,"trackNumber":1}"#)
            try check(added, .created, version: 3)
            let songID = try #require(added.json["songId"] as? String)
            #expect(added.headers[.location] == "/albums/\(id)/songs/\(songID)")
            #expect(try await songIDs(id).first == songID)
            try check(try await client.send(.patch, "/albums/\(id)/songs/\(songID)", json: #"{"durationSeconds":null}"#), .ok, version: 4)
            let order = try await songIDs(id).reversed().map { "\"\($0)\"" }.joined(separator: ",")
            try check(try await client.send(.put, "/albums/\(id)/track-order", json: #"{"songIds":[\#(order)]}"#), .ok, version: 5)
            try check(try await client.send(.delete, "/albums/\(id)/songs/\(songID)"), .ok, version: 6)
            try check(try await client.send(.delete, "/albums/\(id)"), .ok, version: 7)
            #expect(try await client.send(.patch, "/albums/\(id)", json: #"{"title":"x"}"#).status == .gone)
            #expect(try await client.send(.delete, "/albums/\(id)").status == .gone)
            #expect(try await streamVersions(id) == Array(1...7))
        }
    }

    @Test func aChangeToTheSameValuesAppendsNothingAndAnswersTheCurrentVersion() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let created = try await client.send(.post, "/albums", json: kindOfBlue)
            let id = try #require(created.id)
            let same = try await client.send(.patch, "/albums/\(id)", json: #"{"title":" Kind of Blue ","releaseYear":1959}"#)
            #expect(same.status == .ok)
            #expect(same.version == 1)
            #expect(same.token == created.token)
            #expect(try await streamVersions(id) == [1])
        }
    }

    @Test func ifMatchMakesACommandConditional() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let id = try #require(try await client.send(.post, "/albums", json: kindOfBlue).id)
            let stale = try await client.send(.patch, "/albums/\(id)", json: #"{"title":"A"}"#, headers: [.ifMatch: "\"7\""])
            #expect(stale.status == .preconditionFailed)
            #expect(stale.headers[.contentType] == "application/problem+json")
            let fresh = try await client.send(.patch, "/albums/\(id)", json: #"{"title":"A"}"#, headers: [.ifMatch: "\"1\""])
            #expect(fresh.status == .ok)
            // Entity tags that are not the album's strong ETag (weak ones never match strongly): 412.
            for other in ["\"x\"", "\"-1\"", "W/\"2\"", "\"\"", "\"02\"", "\"1\", \"3\""] {
                #expect(
                    try await client.send(.patch, "/albums/\(id)", json: #"{"title":"B"}"#, headers: [.ifMatch: other]).status == .preconditionFailed
                )
            }
            // Not the grammar of RFC 9110: 400.
            for malformed in ["1", "W/1", "\"open", "\"1\" \"2\"", ",", "*, \"2\"", "\"2\"x"] {
                #expect(try await client.send(.patch, "/albums/\(id)", json: #"{"title":"B"}"#, headers: [.ifMatch: malformed]).status == .badRequest)
            }
            // `*` asks only that the album exists; a list matches when one of its tags does.
            #expect(try await client.send(.patch, "/albums/\(id)", json: #"{"title":"B"}"#, headers: [.ifMatch: "*"]).status == .ok)
            #expect(try await client.send(.patch, "/albums/\(id)", json: #"{"title":"C"}"#, headers: [.ifMatch: #"W/"3", "9", "3""#]).status == .ok)
            let unknown = UUID().uuidString.lowercased()
            #expect(try await client.send(.patch, "/albums/\(unknown)", json: #"{"title":"D"}"#, headers: [.ifMatch: "*"]).status == .notFound)
        }
    }

    @Test func sixteenWritersWithTheSameIfMatchOneSucceedsTheRestGet412() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let id = try #require(try await client.send(.post, "/albums", json: kindOfBlue).id)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for writer in 0..<16 {
                    group.addTask {
                        try await client.send(.patch, "/albums/\(id)", json: #"{"title":"writer \#(writer)"}"#, headers: [.ifMatch: "\"1\""]).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .preconditionFailed }.count == 15)
            #expect(try await streamVersions(id) == [1, 2])
        }
    }

    @Test func sixteenWritersWithoutIfMatchAllSucceedWithNoGapAndNoDuplicate() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let id = try #require(try await client.send(.post, "/albums", json: kindOfBlue).id)
            let versions = try await withThrowingTaskGroup(of: Int?.self) { group in
                for writer in 0..<16 {
                    group.addTask { try await client.send(.post, "/albums/\(id)/songs", json: #"{"title":"song \#(writer)"}"#).version }
                }
                return try await group.reduce(into: [Int?]()) { $0.append($1) }
            }
            #expect(versions.compactMap { $0 }.sorted() == Array(2...17))
            #expect(try await streamVersions(id) == Array(1...17))
            #expect(try await songIDs(id).count == 18)
        }
    }
}

@Suite(Cluster.needed) struct IdempotencyTests {
    @Test func aRetryReturnsTheFirstResponseAndAppendsNothing() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "create-\(UUID())"]
            let first = try await client.send(.post, "/albums", json: kindOfBlue, headers: key)
            // The same document with other spacing and key order is the same body.
            let reordered =
                #"{ "songs":[{"durationSeconds":562,"title":"So What"},{"title":"Freddie Freeloader"}], "releaseYear":1959, "artist":"Miles Davis","title":"Kind of Blue" }"#
            let retry = try await client.send(.post, "/albums", json: reordered, headers: key)
            #expect(retry.status == .created)
            #expect(retry.id == first.id)
            #expect(retry.version == first.version)
            #expect(retry.token == first.token)
            #expect(retry.headers[.location] == first.headers[.location])
            let other = try await client.send(.post, "/albums", json: #"{"title":"Other","artist":"Someone"}"#, headers: key)
            #expect(other.status == .unprocessableContent)
            #expect(try await streamVersions(try #require(first.id)) == [1])
        }
    }

    @Test func fiftyConcurrentRetriesOfOneKeyAppendOnce() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "storm-\(UUID())"]
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<50 { group.addTask { try await client.send(.post, "/albums", json: kindOfBlue, headers: key) } }
                return try await group.reduce(into: [Reply]()) { $0.append($1) }
            }
            let refused = replies.filter { $0.id == nil }.map { "\($0.status.code) \($0.text)" }
            #expect(refused.isEmpty, "\(Set(refused))")
            #expect(Set(replies.compactMap(\.id)).count == 1)
        }
    }

    @Test func aRetriedSongAdditionReturnsTheSameSong() async throws {
        try await withCommandAPI { (client: any TestClientProtocol) async throws in
            let id = try #require(try await client.send(.post, "/albums", json: kindOfBlue).id)
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "add-\(UUID())"]
            let first = try await client.send(.post, "/albums/\(id)/songs", json: #"{"title":"Flamenco Sketches"}"#, headers: key)
            let retry = try await client.send(.post, "/albums/\(id)/songs", json: #"{"title":"Flamenco Sketches"}"#, headers: key)
            #expect(retry.json["songId"] as? String == first.json["songId"] as? String)
            #expect(try await streamVersions(id) == [1, 2])
            let badKeys = ["", String(repeating: "k", count: 201), "tab\there", "é"]
            for bad in badKeys {
                let reply = try await client.send(
                    .post,
                    "/albums/\(id)/songs",
                    json: #"{"title":"x"}"#,
                    headers: [HTTPField.Name("Idempotency-Key")!: bad]
                )
                #expect(reply.status == .badRequest, "\(bad)")
            }
        }
    }
}
