import ClusterHarness
import Domain
import EventLog
import Foundation
import HTTPTypes
import HotViews
import Hummingbird
import HummingbirdTesting
import Logging
import Redis
import Testing

@testable import QueryAPI

@Suite("query-api with Redis hot views", .serialized, Cluster.needed)
struct CachedReadTests {
    @Test("the second read is a cache hit; a write read back with its token never shows the old view")
    func hitsAndTokens() async throws {
        let catalog = try await ReadCatalog()
        do {
            try await catalog.run(try catalog.cachedSettings()) { client in
                let (id, created) = try await catalog.create("Cached", songs: [("One", 60)])
                let first = try await client.get("/albums/\(id)", headers: [.consistencyToken: created.description])
                #expect(first.status == .ok)
                #expect(first.header("Cache-Status") == "catalog; fwd=miss; stored", "\(first.headers)")
                #expect(first.header("Served-By")?.hasPrefix("replica") == true || first.header("Served-By") == "primary")
                let second = try await client.get("/albums/\(id)")
                #expect(second.status == .ok)
                #expect(second.header("Cache-Status") == "catalog; hit")
                #expect(second.header("Served-By") == "cache")
                #expect(second.header("ETag") == "\"1\"")
                #expect(second.header("As-Of") == first.header("As-Of"))
                #expect(second.text == first.text)
                let notModified = try await client.get("/albums/\(id)", headers: [HTTPField.Name("If-None-Match")!: "\"1\""])
                #expect(notModified.status == .notModified)
                #expect(notModified.header("Served-By") == "cache")

                // Writes, each read back at once with its token: never the cached older view.
                var version = 1
                for cycle in 0..<50 {
                    let changed = AlbumEvent.detailsChanged(AlbumDetailsChanged(title: "Cached \(cycle)", artist: "Miles Davis", releaseYear: 1959))
                    let result = try await catalog.store.append(to: id.uuid, expectedVersion: version, events: [changed.encoded()], metadata: .test)
                    version = result.version
                    let reply = try await client.get("/albums/\(id)", headers: [.consistencyToken: result.token.description])
                    #expect(reply.json["version"] as? Int == version, "stale in cycle \(cycle): \(reply.header("Served-By") ?? "?")")
                    // ...and the fill it made serves the next read that carries the same token.
                    let again = try await client.get("/albums/\(id)", headers: [.consistencyToken: result.token.description])
                    #expect(again.json["version"] as? Int == version)
                    #expect(again.header("Served-By") == "cache", "cycle \(cycle)")
                }
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("unknown and archived albums are cached as such, briefly")
    func negativeEntries() async throws {
        let catalog = try await ReadCatalog()
        do {
            try await catalog.run(try catalog.cachedSettings()) { client in
                let unknown = UUID().uuidString.lowercased()
                #expect(try await client.get("/albums/\(unknown)").status == .notFound)
                let again = try await client.get("/albums/\(unknown)")
                #expect(again.status == .notFound)
                #expect(again.header("Served-By") == "cache")
                #expect(again.header("Content-Type") == "application/problem+json")

                let (id, _) = try await catalog.create("Archived")
                let archived = try await catalog.store.append(
                    to: id.uuid,
                    expectedVersion: 1,
                    events: [AlbumEvent.archived(AlbumArchived()).encoded()],
                    metadata: .test
                )
                #expect(try await client.get("/albums/\(id)", headers: [.consistencyToken: archived.token.description]).status == .gone)
                let gone = try await client.get("/albums/\(id)")
                #expect(gone.status == .gone)
                #expect(gone.header("Served-By") == "cache")
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("200 concurrent misses on one album make one database read")
    func singleFlight() async throws {
        let catalog = try await ReadCatalog()
        do {
            try await catalog.run(try catalog.cachedSettings()) { client in
                let (id, token) = try await catalog.create("Herd")
                // The album is projected and on every node before the herd arrives; nothing is cached yet.
                try await catalog.waitForReplicas(token)
                let before = try await catalog.albumReadCalls()
                // 200 connections of their own, opened first, so that the requests really arrive together.
                let port = try #require(client.port)
                let clients = (0..<200).map { _ in TestClient(host: "127.0.0.1", port: port) }
                for client in clients { client.connect() }
                for client in clients { _ = try await client.execute(.init("/health/live", method: .get)) }
                let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for client in clients { group.addTask { try await client.execute(.init("/albums/\(id)", method: .get)).status } }
                    return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
                }
                for client in clients { try await client.shutdown() }
                #expect(statuses.allSatisfy { $0 == .ok })
                let after = try await catalog.albumReadCalls()
                let reads = after.values.reduce(0, +) - before.values.reduce(0, +)
                #expect(reads == 1, "database reads for 200 concurrent misses: \(after.merging(before) { $0 - $1 })")
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }
}
