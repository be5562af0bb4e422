import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import Postgres
import Projections
import Testing

@Suite("Leadership", .serialized, Cluster.needed)
struct LeadershipTests {
    @Test("two runners: one leads and writes; SIGKILL it and the other takes over within 5 s")
    func takeover() async throws {
        let catalog = try await TestCatalog("takeover")
        var processes: [BackgroundProcess] = []
        do {
            let first = try catalog.startProjector(["--standby-interval", "200"], log: "first")
            processes.append(first)
            try await waitFor("the first runner leads") { try await leader(catalog)?.name.hasSuffix(":\(first.pid)") == true }
            let second = try catalog.startProjector(["--standby-interval", "200"], log: "second")
            processes.append(second)
            try await waitFor("the second runner stands by") { second.output.contains("standing by") }
            for _ in 0..<20 { try await catalog.create(AlbumID()) }
            try await catalog.waitUntilCaughtUp()
            let before = try #require(try await leader(catalog))
            #expect(before.name.hasSuffix(":\(first.pid)"), "only the first runner has led")

            first.signal(SIGKILL)
            _ = await first.wait()
            let killed = ContinuousClock.now
            try await waitFor("the second runner leads", within: .seconds(5)) {
                try await leader(catalog)?.name.hasSuffix(":\(second.pid)") == true
            }
            let takeover = ContinuousClock.now - killed
            #expect(takeover < .seconds(5), "took over after \(takeover)")
            let after = try #require(try await leader(catalog))
            #expect(after.fence > before.fence)
            let id = AlbumID()
            try await catalog.create(id)
            try await catalog.waitUntilCaughtUp(within: .seconds(10))
            #expect(try await TestCatalog.views(catalog.projector)[id.uuid] != nil)
        } catch {
            for process in processes { process.signal(SIGKILL) }
            await catalog.close()
            throw error
        }
        for process in processes {
            process.signal(SIGTERM)
            #expect(await process.wait() == 0, "a runner stops cleanly on SIGTERM")
        }
        await catalog.close()
    }

    @Test("a runner whose lock was taken away cannot advance the checkpoint")
    func fencing() async throws {
        let catalog = try await TestCatalog("fencing")
        do {
            let deposed = catalog.runner()
            let successor = catalog.runner()
            try await catalog.projector.withConnection { first in
                let fence = try #require(try await deposed.takeLeadership(in: first))
                try await catalog.projector.withConnection { second in
                    #expect(try await successor.takeLeadership(in: second) == nil, "the lock is held")
                    // The first runner's session goes away (a partition, a pause past the keepalive): its lock with it.
                    let backend = try await first.query("SELECT pg_backend_pid()").first!.decode(Int.self, at: 0)
                    try await catalog.database.psql("SELECT pg_terminate_backend(\(backend))")
                    var newFence: Int64?
                    try await waitFor("the successor takes the lock") {
                        newFence = try await successor.takeLeadership(in: second)
                        return newFence != nil
                    }
                    #expect(newFence == fence + 1)
                    try await catalog.create(AlbumID())
                    try await Task.sleep(for: .milliseconds(100))
                    // The deposed runner, unaware, tries a batch with its old fence (its session reconnects).
                    let before = try await catalog.checkpoint()
                    // Its first statement meets the dead connection; the retry, on a new one, meets the fence.
                    var failure = await failure { try await deposed.applyNextBatch(fence: fence, in: first) }
                    if (failure as? PostgresError)?.code == .connectionLost {
                        failure = await self.failure { try await deposed.applyNextBatch(fence: fence, in: first) }
                    }
                    #expect(failure as? ProjectionEngineError == .leadershipLost, "\(String(describing: failure))")
                    #expect(try await catalog.checkpoint() == before)
                    #expect(try await TestCatalog.views(catalog.projector).isEmpty)
                    // The successor can, once the event is commit-safe (a transaction in another test's database
                    // can hold the cluster-wide horizon back for a moment).
                    var (outcome, reached) = try await successor.applyNextBatch(fence: fence + 1, in: second)
                    for _ in 0..<200 where outcome == .idle {
                        try await Task.sleep(for: .milliseconds(50))
                        (outcome, reached) = try await successor.applyNextBatch(fence: fence + 1, in: second)
                    }
                    #expect(outcome == .applied(count: 1))
                    #expect(reached > before)
                }
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test("SIGKILL in the middle of a batch, three times: no event applied twice, none missed")
    func killedMidBatch() async throws {
        let catalog = try await TestCatalog("kill")
        var process: BackgroundProcess?
        do {
            // 600 albums of 11 events each, appended through the event store.
            let ids = (0..<600).map { _ in AlbumID() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for slice in 0..<6 {
                    group.addTask {
                        for id in ids[(slice * 100)..<(slice * 100 + 100)] {
                            try await catalog.create(id, songs: 3)
                            for _ in 0..<10 { try await catalog.execute(on: id, randomCommand) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            var kills = 0
            for round in 0..<3 {
                let runner = try catalog.startProjector(["--batch-size", "100"], log: "kill\(round)")
                process = runner
                try await waitFor("the runner leads") { try await leader(catalog)?.name.hasSuffix(":\(runner.pid)") == true }
                try await waitFor("the read tables exist") {
                    try await catalog.database.psql("SELECT to_regclass('read_model.album_views') IS NOT NULL") == "t"
                }
                // Kill inside a batch, surely: a lock of this test's holds the batch at one of its statements,
                // the last one (the checkpoint's advance, after every read-table write) or its first write.
                let (table, statement) =
                    round == 1
                    ? ("read_model.album_views", "INSERT INTO read_model.album_views%")
                    : ("read_model.projection_checkpoints", "UPDATE read_model.projection_checkpoints%SET txid%")
                var xid: Int64?
                do {
                    xid = try await catalog.killInsideBatch(runner, holding: table, at: statement)
                } catch is ExpectationFailedError {
                } catch {
                    Issue.record(error)
                }
                if xid == nil {
                    // Recorded as an issue already; the runner may still be running.
                    runner.signal(SIGKILL)
                    _ = await runner.wait()
                }
                kills += 1
                // The batch the kill interrupted never commits: it is rolled back, whatever it had written.
                if let xid {
                    var status = ""
                    try await waitFor("the killed batch's transaction ends") {
                        status = try await catalog.database.psql(
                            "SELECT pg_xact_status((((pg_snapshot_xmax(pg_current_snapshot())::text::int8 >> 32) << 32) + \(xid))::text::xid8)"
                        )
                        return status != "in progress"
                    }
                    #expect(status == "aborted", "round \(round): the killed batch's transaction \(xid) is \(status)")
                }
                #expect(try await catalog.checkpoint() < (try await catalog.head()), "killed before the end")
            }
            #expect(kills == 3)
            let last = try catalog.startProjector(["--batch-size", "100"], log: "final")
            process = last
            try await catalog.waitUntilCaughtUp()
            last.signal(SIGTERM)
            _ = await last.wait()
            process = nil
            try await catalog.expectReadModelEqualsFold(ids: ids.map(\.uuid))
            let letters = try await catalog.projector.query("SELECT count(*) FROM read_model.projection_dead_letters")
            #expect(try letters.first?.decode(Int.self, at: 0) == 0)
        } catch {
            process?.signal(SIGKILL)
            await catalog.close()
            throw error
        }
        await catalog.close()
    }
}

extension TestCatalog {
    /// Holds a SHARE lock on `table` (which a batch's writes to it wait for), waits until the projector's
    /// backend is a batch held there (inside a transaction, its statement matching `statement`, waiting
    /// for this lock), kills `runner` with SIGKILL, then lets the lock go. Returns the batch's transaction
    /// id: it has one, since the batch's first statement locked the checkpoint row FOR UPDATE.
    func killInsideBatch(_ runner: BackgroundProcess, holding table: String, at statement: String) async throws -> Int64 {
        let admin = try Self.client(try database.admin(), poolSize: 1)
        let xid: String?
        do {
            xid = try await held(table, by: admin, runner: runner, at: statement)
        } catch {
            await admin.shutdown()
            throw error
        }
        await admin.shutdown()
        let caught = try #require(xid, "no batch was caught at \(statement)")
        return try #require(Int64(caught), "the batch caught at \(statement) has no transaction id: it has not locked the checkpoint")
    }

    private func held(_ table: String, by admin: PostgresClient, runner: BackgroundProcess, at statement: String) async throws -> String? {
        try await admin.withTransaction { tx in
            try await tx.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(table) IN SHARE MODE"))
            let holder = try await tx.query("SELECT pg_backend_pid()")[0].decode(Int.self, at: 0)
            var found: String?
            // pg_stat_activity is read on another connection: within a transaction it is a snapshot.
            try await waitFor("the projector is inside a batch, at \(statement)") {
                let xid = try await database.psql(
                    """
                    SELECT coalesce(backend_xid::text, 'none') FROM pg_stat_activity
                    WHERE datname = current_database() AND application_name = 'projections' AND state = 'active'
                      AND xact_start IS NOT NULL AND wait_event_type = 'Lock' AND \(holder) = ANY(pg_blocking_pids(pid))
                      AND query LIKE '%\(statement)' LIMIT 1
                    """
                )
                found = xid.isEmpty ? nil : xid
                return found != nil
            }
            guard found != nil else { return nil }
            runner.signal(SIGKILL)
            _ = await runner.wait()
            return found
        }
    }
}

extension LeadershipTests {
    func failure(_ body: () async throws -> some Any) async -> (any Error)? {
        do {
            _ = try await body()
            return nil
        } catch {
            return error
        }
    }
}

struct Leader {
    var name: String
    var fence: Int
}

/// The leader recorded in the checkpoint row, if its lock is held.
func leader(_ catalog: TestCatalog) async throws -> Leader? {
    let rows = try await catalog.projector.query(
        """
        SELECT leader, fence FROM read_model.projection_checkpoints c
        WHERE projection = 'albums' AND EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = 74142081
                                                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                                                 AND objid = (hashtext(c.projection)::int8 & 4294967295)::oid)
        """
    )
    guard let row = rows.first, let name = try row.decode(String?.self, at: 0) else { return nil }
    return Leader(name: name, fence: try row.decode(Int.self, at: 1))
}
