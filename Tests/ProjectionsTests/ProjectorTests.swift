import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import Postgres
import Projections
import Synchronization
import Testing

@Suite("Projector", .serialized, Cluster.needed)
struct ProjectorTests {
    @Test("8 concurrent writers on shared and separate albums: every read row equals the fold of its events")
    func concurrentWriters() async throws {
        let catalog = try await TestCatalog("writers")
        do {
            let shared = (0..<4).map { _ in AlbumID() }
            for id in shared { try await catalog.create(id, title: "Shared") }
            let separate = (0..<8).map { writer in (0..<3).map { _ in AlbumID() } }
            try await catalog.withRunner {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<8 {
                        group.addTask {
                            for id in separate[writer] { try await catalog.create(id, title: "Writer \(writer)") }
                            for _ in 0..<40 {
                                let id = Bool.random() ? shared.randomElement()! : separate[writer].randomElement()!
                                try await catalog.execute(on: id, randomCommand)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                try await catalog.waitUntilCaughtUp()
            }
            #expect(try await catalog.checkpoint() == (try await catalog.head()))
            try await catalog.expectReadModelEqualsFold(ids: (shared + separate.flatMap { $0 }).map(\.uuid))
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("a transaction that commits late is projected in commit-safe order: the checkpoint waits for it, nothing is skipped")
    func outOfOrderCommits() async throws {
        let catalog = try await TestCatalog("order")
        do {
            let early = AlbumID()
            let late = AlbumID()
            let held = Gate()
            let appended = Gate()
            try await catalog.withRunner {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Takes its transaction id first, then stays open while another append commits.
                    group.addTask {
                        try await catalog.writer.withTransaction { tx in
                            _ = try await catalog.store.append(
                                to: late.uuid,
                                expectedVersion: 0,
                                events: [AlbumEvent.created(AlbumCreated(title: "Late", artist: "A", releaseYear: nil, songs: [])).encoded()],
                                metadata: .test,
                                idempotency: nil,
                                in: tx
                            )
                            appended.open()
                            await held.wait()
                        }
                    }
                    await appended.wait()
                    try await catalog.create(early, title: "Early")
                    // The early album committed, but the open transaction holds the commit-safe horizon below it.
                    // Once the runner has looked at the log twice more (the first look may have begun before
                    // the commit), it has had its chance to project the early album.
                    try await catalog.waitForLogReads(2)
                    #expect(try await TestCatalog.views(catalog.projector)[early.uuid] == nil)
                    held.open()
                    try await group.waitForAll()
                }
                try await catalog.waitUntilCaughtUp()
            }
            try await catalog.expectReadModelEqualsFold(ids: [early.uuid, late.uuid])
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("a poison event goes to the dead letters; halt stops before it, skip goes on; status reports it")
    func poisonEvent() async throws {
        let catalog = try await TestCatalog("poison")
        do {
            let good = AlbumID()
            let poisoned = AlbumID()
            let after = AlbumID()
            try await catalog.create(good)
            _ = try await catalog.store.append(
                to: poisoned.uuid,
                expectedVersion: 0,
                events: [EncodedEvent(type: "AlbumCreated", schemaVersion: 2, data: Data(#"{"bogus":true}"#.utf8))],
                metadata: .test
            )
            try await catalog.create(after)
            try await catalog.withRunner {
                try await waitFor("the projection halts") {
                    try await catalog.runProjections(["status", "--json"]).output.contains("\"halted\" : true")
                }
            }
            var views = try await TestCatalog.views(catalog.projector)
            #expect(views[good.uuid] != nil)
            #expect(views[after.uuid] == nil, "nothing after the poison event is applied while halted")
            let status = try await catalog.runProjections(["status", "--json"])
            #expect(status.status == 0)
            #expect(status.output.contains("\"deadLetterCount\" : 1"))
            #expect(status.output.contains(poisoned.description))
            let table = try await catalog.runProjections(["status"])
            #expect(table.output.contains("HALTED"))
            #expect(table.output.contains("1 dead letters"))

            try await catalog.withRunner(catalog.runner { $0.onPoison = .skip }) {
                try await catalog.waitUntilCaughtUp()
            }
            views = try await TestCatalog.views(catalog.projector)
            #expect(views[after.uuid] != nil)
            #expect(views[poisoned.uuid] == nil)
            let skipped = try await catalog.projector.query(
                "SELECT skipped, error FROM read_model.projection_dead_letters WHERE stream_id = \(poisoned.uuid)"
            )
            #expect(skipped.count == 1)
            #expect(try skipped.first?.decode(Bool.self, at: 0) == true)
            #expect(try skipped.first?.decode(String.self, at: 1).contains("AlbumCreated") == true)
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("events of an older schema version are upcast before they are projected")
    func upcasting() async throws {
        let catalog = try await TestCatalog("upcast")
        do {
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
                metadata: .test
            )
            try await catalog.execute(on: id) { _ in .addSong(AddSong(title: "Moment's Notice", durationSeconds: 546)) }
            try await catalog.withRunner { try await catalog.waitUntilCaughtUp() }
            let view = try #require(try await TestCatalog.views(catalog.projector)[id.uuid])
            #expect(view.releaseYear == 1957)
            #expect(view.songs.map(\.title) == ["Moment's Notice"])
            #expect(view.version == 2)
            try await catalog.expectReadModelEqualsFold(ids: [id.uuid])
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("the read tables and checkpoint arrive on every replica, readable by the reader role")
    func replicas() async throws {
        let catalog = try await TestCatalog("replicas")
        do {
            let id = AlbumID()
            try await catalog.create(id, title: "Replicated", songs: 3)
            try await catalog.withRunner { try await catalog.waitUntilCaughtUp() }
            let expected = try await catalog.expectedView(of: id.uuid)
            for replica in try catalog.database.replicas() {
                let reader = try catalog.reader(replica.conninfo)
                try await waitFor("\(replica.name) has the album") { try await TestCatalog.views(reader)[id.uuid] == expected }
                let checkpoint = try await reader.query("SELECT txid::text, position FROM read_model.projection_checkpoints")
                #expect(checkpoint.count == 1)
                let recovery = try await reader.query("SELECT pg_is_in_recovery()")
                #expect(try recovery.first?.decode(Bool.self, at: 0) == true)
                await reader.shutdown()
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("the reader can only read the read model; the projector cannot touch the event log's rows")
    func privileges() async throws {
        let catalog = try await TestCatalog("roles")
        do {
            let id = AlbumID()
            try await catalog.create(id)
            try await catalog.withRunner { try await catalog.waitUntilCaughtUp() }
            let reader = try catalog.reader(catalog.database.conninfo("CATALOG_QUERY_PRIMARY"))
            #expect(try await reader.query("SELECT count(*) FROM read_model.album_views").first?.decode(Int.self, at: 0) == 1)
            // The history view shows the reader the events' public columns, and nothing more of the log.
            #expect(try await reader.query("SELECT count(*) FROM read_model.album_history").first?.decode(Int.self, at: 0) == 1)
            for statement: PostgresQuery in [
                "SELECT idempotency_key FROM read_model.album_history",
                "SELECT request_hash FROM read_model.album_history",
                "INSERT INTO read_model.album_history (album_id) VALUES (gen_random_uuid())",
                "UPDATE read_model.album_views SET title = 'x'",
                "DELETE FROM read_model.album_views",
                "UPDATE read_model.projection_checkpoints SET position = 0",
                "SELECT * FROM read_model.projection_dead_letters",
                "CREATE TABLE read_model.mine (id int)",
                "SELECT * FROM events",
            ] {
                await #expect(throws: PostgresError.self, "\(statement.sql)") { try await reader.query(statement) }
            }
            for statement: PostgresQuery in [
                "DELETE FROM events", "UPDATE events SET type = 'x'", "CREATE TABLE public.mine (id int)",
                "DELETE FROM read_model.projection_checkpoints",
            ] {
                await #expect(throws: PostgresError.self, "\(statement.sql)") { try await catalog.projector.query(statement) }
            }
            await reader.shutdown()
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }
}

/// A one-shot signal between tasks.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func isOpenNow() -> Bool { state.withLock { $0.open } }

    func wait() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

/// Polls `condition` every 50 ms for up to `limit`; records an issue when it never holds.
func waitFor(_ what: String, within limit: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("timed out waiting until \(what)")
}
