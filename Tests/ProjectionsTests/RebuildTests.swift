import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import Postgres
import Projections
import Synchronization
import Testing

@Suite("Replay and verify", .serialized, Cluster.needed)
struct RebuildTests {
    @Test("replay while 4 writers and readers run: no read fails during the swap, and verify says equal")
    func replayWhileLive() async throws {
        let catalog = try await TestCatalog("replay")
        do {
            let ids = (0..<40).map { _ in AlbumID() }
            for id in ids { try await catalog.create(id, title: "Album \(id)", songs: 2) }
            let readers = try [catalog.database.conninfo("CATALOG_QUERY_PRIMARY")] + catalog.database.replicas().map(\.conninfo)
            let clients = try readers.map { try catalog.reader($0) }
            let counts = Counts()
            let stop = Gate()
            try await catalog.withRunner {
                try await catalog.waitUntilCaughtUp()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            while !stop.isOpen {
                                try await catalog.execute(on: ids.randomElement()!, randomCommand)
                            }
                        }
                    }
                    for client in clients {
                        group.addTask {
                            while !stop.isOpen {
                                do {
                                    let id = ids.randomElement()!.uuid
                                    let rows = try await client.query(
                                        "SELECT title, songs::text, version FROM read_model.album_views WHERE id = \(id)"
                                    )
                                    let page = try await client.query(
                                        "SELECT id, title FROM read_model.album_views WHERE NOT archived ORDER BY title, id LIMIT 20"
                                    )
                                    counts.read(ok: rows.count <= 1 && !page.isEmpty)
                                } catch {
                                    counts.read(ok: false, error: "\(error)")
                                }
                            }
                        }
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    let before = counts.succeeded
                    let replay = try await catalog.runProjections(["replay", "albums", "--batch-size", "50"])
                    #expect(replay.status == 0, "\(replay.output)")
                    #expect(replay.output.contains("replayed albums"))
                    // The readers kept reading while the replay ran (however slowly the machine went).
                    #expect(counts.succeeded > before, "no read completed during the replay")
                    try await Task.sleep(for: .milliseconds(300))
                    stop.open()
                    try await group.waitForAll()
                }
                try await catalog.waitUntilCaughtUp()
            }
            #expect(counts.failed == 0, "failed reads: \(counts.errors)")
            let verify = try await catalog.runProjections(["verify", "albums"])
            #expect(verify.status == 0, "\(verify.output)")
            #expect(verify.output.contains("albums: equal"))
            try await catalog.expectReadModelEqualsFold(ids: ids.map(\.uuid))
            // The old tables are gone, the swapped-in one carries the live index names, no shadow is left.
            let tables = try await catalog.database.psql(
                "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'read_model'"
            )
            #expect(tables == "album_views,projection_checkpoints,projection_dead_letters")
            let indexes = try await catalog.database.psql(
                "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'album_views'"
            )
            #expect(indexes == "album_views_by_artist,album_views_by_title,album_views_pkey,album_views_search")
            for client in clients { await client.shutdown() }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("verify finds a read row altered behind the projector's back and names the album")
    func verifyFindsDifferences() async throws {
        let catalog = try await TestCatalog("verify")
        do {
            let ids = (0..<5).map { _ in AlbumID() }
            for id in ids { try await catalog.create(id, songs: 3) }
            try await catalog.withRunner { try await catalog.waitUntilCaughtUp() }
            let clean = try await catalog.runProjections(["verify", "albums"])
            #expect(clean.status == 0, "\(clean.output)")

            try await catalog.database.psql("UPDATE read_model.album_views SET title = 'Tampered' WHERE id = '\(ids[2])'")
            let altered = try await catalog.runProjections(["verify", "albums"])
            #expect(altered.status == 1)
            #expect(altered.output.contains(ids[2].description))
            #expect(altered.output.contains("title live=\"Tampered\""))

            try await catalog.database.psql("DELETE FROM read_model.album_views WHERE id = '\(ids[4])'")
            let missing = try await catalog.runProjections(["verify", "albums"])
            #expect(missing.status == 1)
            #expect(missing.output.contains("2 rows differ"))
            #expect(missing.output.contains("\(ids[4]): missing from the live table"))
            // Verify leaves nothing behind.
            #expect(try await catalog.database.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%verify%'") == "0")

            // A replay repairs it.
            let replay = try await catalog.runProjections(["replay", "albums"])
            #expect(replay.status == 0, "\(replay.output)")
            #expect(try await catalog.runProjections(["verify", "albums"]).status == 0)
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("a runner that finds read tables of an older shape rebuilds them before it projects")
    func olderShapeIsRebuilt() async throws {
        let catalog = try await TestCatalog("shape")
        do {
            let ids = (0..<6).map { _ in AlbumID() }
            for id in ids.prefix(3) { try await catalog.create(id, songs: 2) }
            try await catalog.withRunner { try await catalog.waitUntilCaughtUp() }
            // As a deployment of the previous version left them: no document column, shape 1.
            try await catalog.database.psql(
                """
                ALTER TABLE read_model.album_views DROP COLUMN document;
                COMMENT ON TABLE read_model.album_views IS 'album_views shape 1';
                """
            )
            for id in ids.dropFirst(3) { try await catalog.create(id, songs: 1) }
            try await catalog.withRunner { try await catalog.waitUntilCaughtUp() }
            #expect(
                try await catalog.database.psql("SELECT obj_description('read_model.album_views'::regclass, 'pg_class')")
                    == "album_views shape 2"
            )
            try await catalog.expectReadModelEqualsFold(ids: ids.map(\.uuid))
            #expect(try await catalog.runProjections(["verify", "albums"]).status == 0)
            #expect(try await catalog.database.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%rebuild%'") == "0")
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("the tool's exit codes: 2 for usage, 3 when the database cannot be reached")
    func exitCodes() async throws {
        let path = try Cluster.executable("projections")
        let environment = ["PATH=/usr/bin:/bin"]
        func run(_ arguments: [String], _ extra: [String] = []) async throws -> (status: Int32, output: String) {
            try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread {
                    continuation.resume(with: Result { try ChildProcess.run(path, arguments: arguments, environment: environment + extra) })
                }
            }
        }
        let primary = "CATALOG_PROJECTOR_PRIMARY=" + (try Cluster.value("CATALOG_PROJECTOR_PRIMARY"))
        #expect(try await run(["verify", "nonesuch"], [primary]).status == 2)
        #expect(try await run(["frobnicate"], [primary]).status == 2)
        #expect(try await run(["run", "--batch-size", "0"], [primary]).status == 2)
        #expect(try await run(["run", "--on-poison", "ignore"], [primary]).status == 2)
        #expect(try await run(["status"]).status == 2, "no database given")
        let unreachable = try await run(
            ["status"],
            ["CATALOG_PROJECTOR_PRIMARY=host=127.0.0.1 port=1 dbname=catalog user=x password=secret-value connect_timeout=2 sslmode=verify-full"]
        )
        #expect(unreachable.status == 3)
        #expect(!unreachable.output.contains("secret-value"), "no password in the output")
    }
}

/// Read outcomes shared by reader tasks.
final class Counts: Sendable {
    private let state = Mutex<(ok: Int, failed: Int, errors: [String])>((0, 0, []))

    func read(ok: Bool, error: String? = nil) {
        state.withLock { state in
            if ok { state.ok += 1 } else { state.failed += 1 }
            if let error, state.errors.count < 5 { state.errors.append(error) }
        }
    }

    var succeeded: Int { state.withLock { $0.ok } }
    var failed: Int { state.withLock { $0.failed } }
    var errors: [String] { state.withLock { $0.errors } }
}

extension Gate {
    var isOpen: Bool { isOpenNow() }
}
