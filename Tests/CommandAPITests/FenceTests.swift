import ClusterHarness
import EventLog
import Foundation
import HotViews
import HummingbirdTesting
import Logging
import NIOCore
import Postgres
import Redis
import Testing

@testable import CommandAPI

@Suite(Cluster.needed) struct FenceTests {
    /// Each committed command's fence reaches Redis through the outbox and removes a cached view below it.
    /// How soon is bench/outbox's figure (p50 0.2 ms after the answer); the bound here only tolerates a
    /// machine loaded by the whole suite (1 s failed once so in a loaded run).
    @Test func aCommittedCommandsFenceIsDeliveredAtOnce() async throws {
        let (cache, configuration, redis) = try testCache()
        try await withCommandAPI(redis: redis, cache: configuration) { client in
            let created = try await client.send(.post, "/albums", json: kindOfBlue)
            #expect(created.status == .created)
            let id = try #require((created.json["id"] as? String).flatMap(UUID.init(uuidString:)))
            #expect(try await within(.seconds(10)) { try await cache.fence(of: id) == 1 })
            // A view of version 1 cached by a reader; the next command's fence removes it.
            #expect(await cache.fill(id, with: CachedView(state: .live, version: 1, asOf: .origin, document: ByteBuffer(string: "{}"))))
            let changed = try await client.send(.patch, "/albums/\(id.uuidString.lowercased())", json: #"{"title":"Kind of Blue (Legacy)"}"#)
            #expect(changed.status == .ok)
            #expect(try await within(.seconds(10)) { try await cache.fence(of: id) == 2 })
            #expect(await cache.lookup(id, token: nil) == .miss)
            // A refused command (412) records no fence beyond what committed.
            let refused = try await client.send(
                .patch,
                "/albums/\(id.uuidString.lowercased())",
                json: #"{"title":"Never"}"#,
                headers: [.ifMatch: "\"1\""]
            )
            #expect(refused.status == .preconditionFailed)
            // A command on another album after it: once its fence is in Redis, the relay has been through
            // the outbox past the refused command, and had its chance to deliver a fence of that one.
            let later = try await client.send(.post, "/albums", json: kindOfBlue)
            let laterID = try #require((later.json["id"] as? String).flatMap(UUID.init(uuidString:)))
            #expect(try await within(.seconds(10)) { try await cache.fence(of: laterID) == 1 }, "the later command's fence")
            #expect(try await cache.fence(of: id) == 2)
            let ready = try await client.send(.get, "/health/ready")
            #expect((ready.json["outbox"] as? [String: Any])?["undelivered"] as? Int == 0)
        }
    }

    /// With Redis unreachable commands still succeed; their fences wait in the outbox.
    @Test func commandsSucceedWhileRedisIsUnreachable() async throws {
        try await withCommandAPI(redis: "redis://127.0.0.1:1") { client in
            let started = ContinuousClock.now
            for _ in 0..<3 { #expect(try await client.send(.post, "/albums", json: kindOfBlue).status == .created) }
            #expect(ContinuousClock.now - started < .seconds(5))
            let ready = try await client.send(.get, "/health/ready")
            #expect(ready.status == .ok)
            #expect((ready.json["outbox"] as? [String: Any])?["undelivered"] as? Int == 3)
        }
    }

    /// SIGKILL right after the PostgreSQL commit, before the intent is marked: the next run settles the
    /// intent by asking the primary and delivers the fence.
    @Test func aFenceLostToACrashAfterTheCommitIsDeliveredByTheNextRun() async throws {
        try await migrate()
        let (cache, configuration, redis) = try testCache()
        let outbox = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID())/outbox.sqlite").path
        let created = try await withCommandAPI(redis: redis, cache: configuration, outboxPath: outbox) { client in
            try await client.send(.post, "/albums", json: kindOfBlue)
        }
        let id = try #require((created.json["id"] as? String).flatMap(UUID.init(uuidString:)))
        #expect(try await cache.fence(of: id) == 1)

        let port = try freePort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("command-api-crash-\(UUID()).log").path
        let crashing = try BackgroundProcess(
            try Cluster.executable("command-api"),
            arguments: [],
            environment: [
                "CATALOG_TEST_FAULT": "kill-after-commit", "CATALOG_ALLOW_TEST_FAULTS": "1", "CATALOG_OUTBOX_PATH": outbox,
                "CATALOG_COMMAND_ADDR": "127.0.0.1:\(port)",
                "CATALOG_REDIS": redis, "CATALOG_COMMAND_REDIS": redis,
                "CATALOG_AUTH_KEYS": try Cluster.value("CATALOG_AUTH_KEYS"), "CATALOG_AUTH_ISSUER": try Cluster.value("CATALOG_AUTH_ISSUER"),
                "CATALOG_AUTH_AUDIENCE": try Cluster.value("CATALOG_AUTH_AUDIENCE"),
            ],
            logPath: log
        )
        #expect(try await within(.seconds(20)) { (try? await Self.get(port: port, "/health/live")) == 200 })
        let reply = try? await Self.patch(port: port, "/albums/\(id.uuidString.lowercased())", #"{"title":"Committed, then killed"}"#)
        #expect(reply == nil, "the process died before answering")
        // Answered: it will not die by itself, and waiting for it would hang the run.
        if reply != nil { crashing.signal(SIGKILL) }
        #expect(await crashing.wait() == 128 + SIGKILL, "\(crashing.output)")
        let store = EventStore(client: try PostgresClient(configuration: .init(connectionString: try Cluster.value("CATALOG_PRIMARY"))))
        #expect(try await store.readStream(id).count == 2, "the command committed")
        #expect(try await cache.fence(of: id) == 1, "its fence was not delivered")

        // The next run (no fault) finds the intent of the dead run, asks the primary, and delivers.
        try await withCommandAPI(redis: redis, cache: configuration, outboxPath: outbox) { _ in
            let delivered = try await within(.seconds(10)) { try await cache.fence(of: id) == 2 }
            #expect(delivered)
        }
    }

    static func get(port: Int, _ path: String) async throws -> Int {
        let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(5)))
        client.connect()
        defer { Task { try? await client.shutdown() } }
        return try await client.execute(.init(path, method: .get)).status.code
    }

    static func patch(port: Int, _ path: String, _ body: String) async throws -> Int {
        let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(10)))
        client.connect()
        defer { Task { try? await client.shutdown() } }
        return try await client.execute(
            .init(
                path,
                method: .patch,
                headers: [.contentType: "application/json", .authorization: "Bearer \(try Cluster.value("CATALOG_TOKEN"))"],
                body: .init(string: body)
            )
        ).status.code
    }
}
