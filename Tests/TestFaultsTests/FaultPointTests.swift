import ClusterHarness
import Domain
import EventLog
import Foundation
import HTTPTypes
import HotViews
import Logging
import Postgres
import Redis
import Testing

extension HTTPField.Name {
    static let consistencyToken = Self("Consistency-Token")!
    static let servedBy = Self("Served-By")!
    static let cacheStatus = Self("Cache-Status")!
}

/// Each fault point has its effect, in the service binary started with it, on the real cluster.
@Suite(Cluster.needed) struct FaultPointTests {
    static let allowed = ["CATALOG_ALLOW_TEST_FAULTS": "1"]

    static func cache() throws -> ViewCache {
        ViewCache(
            client: try RedisClient(configuration: try RedisClient.Configuration(url: try Cluster.value("CATALOG_REDIS"))),
            logger: Logger(label: "test")
        )
    }

    static func client(_ conninfo: String) throws -> PostgresClient {
        var configuration = PostgresClient.Configuration(connectionString: conninfo)
        configuration.poolSize = 2
        return try PostgresClient(configuration: configuration)
    }

    /// command-api with `fault`, live. A free port can be taken by another test before the service binds
    /// it: then the service exits with "Address already in use" and it is started again on another.
    static func startCommandAPI(fault: String, environment extra: [String: String] = [:]) async throws -> (BackgroundProcess, port: Int) {
        try await migrateCatalog()
        for _ in 0..<3 {
            let port = try freePort()
            let outbox = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID())/outbox.sqlite").path
            let process = try startService(
                "command-api",
                environment: allowed.merging([
                    "CATALOG_TEST_FAULT": fault, "CATALOG_OUTBOX_PATH": outbox, "CATALOG_COMMAND_ADDR": "127.0.0.1:\(port)",
                ]) {
                    $1
                }.merging(extra) { $1 }
            )
            let settled = try await within(.seconds(30)) {
                (try? await request(port: port, .get, "/health/live"))?.status == 200 || process.output.contains("Address already in use")
            }
            if settled && process.output.contains("Address already in use") {
                process.signal(SIGKILL)
                _ = await process.wait()
                continue
            }
            try await waitUntilLive(port: port, process)
            return (process, port)
        }
        throw HarnessError("command-api found no free port in three tries")
    }

    /// The service's warning and error lines, for a failed expectation's message.
    static func complaints(of process: BackgroundProcess) -> String {
        process.output.split(separator: "\n").filter { $0.contains(" error ") || $0.contains(" warning ") }.suffix(10).joined(separator: "\n")
    }

    /// relay-drops-fences: of six commands' fences, every second one is never raised, though the outbox
    /// counts them all delivered.
    @Test func relayDropsFences() async throws {
        let (process, port) = try await Self.startCommandAPI(fault: "relay-drops-fences")
        defer { process.signal(SIGKILL) }
        var albums: [UUID] = []
        for _ in 0..<6 {
            let created = try await request(port: port, .post, "/albums", body: kindOfBlue)
            #expect(created.status == 201, "\(created.body)\n\(Self.complaints(of: process))")
            albums.append(try #require((created.json["id"] as? String).flatMap(UUID.init(uuidString:))))
            // One at a time: the relay delivers each before the next commits (the count does not depend on it).
            try await Task.sleep(for: .milliseconds(50))
        }
        let drained = try await within(.seconds(10)) {
            let ready = try await request(port: port, .get, "/health/ready")
            return (ready.json["outbox"] as? [String: Any])?["undelivered"] as? Int == 0
        }
        #expect(drained)
        let cache = try Self.cache()
        var fences: [Int] = []
        for id in albums { fences.append(try await cache.fence(of: id)) }
        #expect(fences.filter { $0 == 0 }.count == 3, "fences \(fences)")
        #expect(fences.filter { $0 == 1 }.count == 3, "fences \(fences)")
    }

    /// ack-before-commit: a command is answered before it commits; SIGKILL right after the answer loses
    /// it. One not killed commits a moment later. The commit waits 3 s here (300 ms by default), so that
    /// a loaded machine cannot delay the kill past it.
    @Test func ackBeforeCommit() async throws {
        let store = EventStore(client: try Self.client(try Cluster.value("CATALOG_PRIMARY")))
        let (process, port) = try await Self.startCommandAPI(fault: "ack-before-commit", environment: ["CATALOG_TEST_ACK_DELAY_MS": "3000"])
        defer { process.signal(SIGKILL) }

        let kept = try await request(port: port, .post, "/albums", body: kindOfBlue)
        #expect(kept.status == 201, "\(kept.body)\n\(Self.complaints(of: process))")
        #expect(kept.headers[.consistencyToken] != nil)
        let keptID = try #require((kept.json["id"] as? String).flatMap(UUID.init(uuidString:)))
        #expect(try await store.readStream(keptID).isEmpty, "answered 3 s before its commit")
        #expect(try await within(.seconds(20)) { try await store.readStream(keptID).count == 1 }, "committed after the answer")

        let lost = try await request(port: port, .post, "/albums", body: kindOfBlue)
        process.signal(SIGKILL)
        #expect(lost.status == 201, "\(lost.body)\n\(Self.complaints(of: process))")
        let lostID = try #require((lost.json["id"] as? String).flatMap(UUID.init(uuidString:)))
        #expect(await exitStatus(of: process, within: .seconds(10)) == 128 + SIGKILL)
        #expect(try await store.readStream(lostID).isEmpty, "the acknowledged command was lost")
    }

    /// A scratch catalog with one album projected, and a query-api reading it (from the primary: no
    /// replicas) with `fault`. The projector is returned running.
    static func withQueryAPI(
        _ purpose: String,
        fault: String?,
        _ body: (_ port: Int, _ store: EventStore, _ album: UUID, _ projector: BackgroundProcess, _ database: ScratchDatabase) async throws -> Void
    ) async throws {
        let database = try await migratedScratchDatabase(purpose)
        let writer = try Self.client(try database.conninfo("CATALOG_PRIMARY"))
        let projector = try startService("projections", arguments: ["run"], environment: try database.environment())
        let port = try freePort()
        var environment = [
            "CATALOG_QUERY_PRIMARY": try database.conninfo("CATALOG_QUERY_PRIMARY"), "CATALOG_REPLICAS": "",
            "CATALOG_QUERY_ADDR": "127.0.0.1:\(port)",
        ]
        if let fault { environment.merge(allowed.merging(["CATALOG_TEST_FAULT": fault]) { $1 }) { $1 } }
        let query = try startService("query-api", environment: environment)
        do {
            try await waitUntilLive(port: port, query)
            let store = EventStore(client: writer)
            let album = UUID()
            _ = try await store.append(
                to: album,
                expectedVersion: 0,
                events: [AlbumEvent.created(AlbumCreated(title: "Kind of Blue", artist: "Miles Davis", releaseYear: 1959, songs: [])).encoded()],
                metadata: .test
            )
            let projected = try await within(.seconds(30)) {
                // The read tables appear when the projector has started: until then the query fails.
                (try? await database.psql("SELECT count(*) FROM read_model.album_views WHERE id = '\(album.uuidString.lowercased())'")) == "1"
            }
            try #require(projected, "\(projector.output)")
            try await body(port, store, album, projector, database)
        } catch {
            for process in [projector, query] { process.signal(SIGKILL) }
            await writer.shutdown()
            await database.drop()
            throw error
        }
        for process in [projector, query] { process.signal(SIGKILL) }
        await writer.shutdown()
        await database.drop()
    }

    /// fill-skips-fence: with the album's fence at 5, a read stores its version-1 view, and Redis serves it.
    @Test func fillSkipsFence() async throws {
        try await Self.withQueryAPI("fillfence", fault: "fill-skips-fence") { port, _, album, _, _ in
            let cache = try Self.cache()
            try await cache.raiseFences([(album, 5)])
            let read = try await request(port: port, .get, "/albums/\(album.uuidString.lowercased())")
            #expect(read.status == 200)
            #expect(read.headers[.cacheStatus] == "catalog; fwd=miss; stored", "stored below the fence")
            #expect(Self.hitView(await cache.lookup(album, token: nil))?.version == 1, "a version-1 view in Redis")
            #expect(try await cache.fence(of: album) == 5)
            let again = try await request(port: port, .get, "/albums/\(album.uuidString.lowercased())")
            #expect(again.headers[.servedBy] == "cache" && again.headers[.eTag] == "\"1\"", "Redis serves a view below the fence")
        }
    }

    static func hitView(_ lookup: ViewCache.Lookup) -> CachedView? {
        if case .hit(let view) = lookup { view } else { nil }
    }

    /// router-ignores-tokens: a read carrying the token of version 2 is answered at version 1 (from the
    /// cache, at once) while no node has projected version 2; without the fault it waits and gets 503.
    @Test func routerIgnoresTokens() async throws {
        for fault in ["router-ignores-tokens", nil] as [String?] {
            try await Self.withQueryAPI("ignoretokens", fault: fault) { port, store, album, projector, _ in
                let path = "/albums/\(album.uuidString.lowercased())"
                let first = try await request(port: port, .get, path)
                #expect(first.status == 200)
                #expect(first.headers[.cacheStatus] == "catalog; fwd=miss; stored")
                projector.signal(SIGKILL)
                _ = await projector.wait()
                let renamed = try await store.append(
                    to: album,
                    expectedVersion: 1,
                    events: [AlbumEvent.detailsChanged(AlbumDetailsChanged(title: "Renamed", artist: "Miles Davis", releaseYear: 1959)).encoded()],
                    metadata: .test
                )
                let read = try await request(port: port, .get, path, headers: [.consistencyToken: renamed.token.description])
                if fault != nil {
                    #expect(read.status == 200)
                    #expect(read.headers[.eTag] == "\"1\"", "answered below the token's version")
                    #expect(read.headers[.servedBy] == "cache")
                    // A malformed token is still refused.
                    #expect(try await request(port: port, .get, path, headers: [.consistencyToken: "not-a-token"]).status == 400)
                } else {
                    #expect(read.status == 503, "without the fault no node has reached the token")
                }
            }
        }
    }

    /// projector-skips-event: the projector passes an album's event at a position that is a multiple of
    /// 10 without applying its change, goes on with the album's next events, and verify finds the difference.
    @Test func projectorSkipsEvent() async throws {
        let database = try await migratedScratchDatabase("skipevent")
        let writer = try Self.client(try database.conninfo("CATALOG_PRIMARY"))
        let projector = try startService(
            "projections",
            arguments: ["run"],
            environment: try database.environment().merging(Self.allowed.merging(["CATALOG_TEST_FAULT": "projector-skips-event"]) { $1 }) { $1 }
        )
        do {
            let store = EventStore(client: writer)
            let album = UUID()
            var last = try await store.append(
                to: album,
                expectedVersion: 0,
                events: [AlbumEvent.created(AlbumCreated(title: "Title 0", artist: "Miles Davis", releaseYear: 1959, songs: [])).encoded()],
                metadata: .test
            )
            // Renames until one lands at a position that is a multiple of 10 past the first ten: that one
            // (and any earlier at such a position) is skipped; the run goes on after it.
            var skipped: [Int] = []
            while skipped.count < 2 {
                let version = last.version + 1
                last = try await store.append(
                    to: album,
                    expectedVersion: version - 1,
                    events: [
                        AlbumEvent.detailsChanged(AlbumDetailsChanged(title: "Title \(version)", artist: "Miles Davis", releaseYear: 1959)).encoded()
                    ],
                    metadata: .test
                )
                if last.token.position % 10 == 0 { skipped.append(version) }
            }
            // The first skipped rename is followed by others that apply cleanly (and hide it: they set the
            // title again); the last, the album's last event, leaves its change missing.
            let version = last.version
            let caughtUp = try await within(.seconds(30)) {
                // Until the projector has created its tables the query fails: not yet, not an error.
                (try? await database.psql("SELECT version FROM read_model.album_views WHERE id = '\(album.uuidString.lowercased())'")) == "\(version)"
            }
            #expect(caughtUp, "\(projector.output)")
            let row = try await database.psql("SELECT title FROM read_model.album_views WHERE id = '\(album.uuidString.lowercased())'")
            #expect(row == "Title \(version - 1)", "the last rename (position \(last.token.position)) was skipped")
            #expect(try await database.psql("SELECT count(*) FROM read_model.projection_dead_letters") == "0")
            #expect(try await database.psql("SELECT halted_at IS NULL FROM read_model.projection_checkpoints") == "t")

            let environment = try Cluster.environment().merging(try database.environment()) { $1 }.map { "\($0.key)=\($0.value)" }
            let verify = try await ChildProcess.runDetached(
                try Cluster.executable("projections"),
                arguments: ["verify", "albums"],
                environment: environment
            )
            #expect(verify.status == 1, "\(verify.output)")
            #expect(verify.output.contains("1 rows differ"), "\(verify.output)")
        } catch {
            projector.signal(SIGKILL)
            await writer.shutdown()
            await database.drop()
            throw error
        }
        projector.signal(SIGKILL)
        await writer.shutdown()
        await database.drop()
    }
}
