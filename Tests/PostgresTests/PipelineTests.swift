import ClusterHarness
import Foundation
import Postgres
import Synchronization
import Testing

/// `PostgresClient.read`: many reads in flight on each of a few pipelined connections, each answered with
/// its own row or its own error.
@Suite(Cluster.needed) struct PipelineTests {
    /// A thousand reads at once, one in ten a bad cast and one in ten a division by zero, while a long
    /// statement on one of the same connections is cancelled by the server (pg_cancel_backend): every
    /// read gets exactly its own answer, and all of them share at most the client's pipelined connections.
    @Test func aThousandConcurrentReadsMixedWithFailingStatementsGetTheirOwnAnswers() async throws {
        let name = "postgres-pipeline-\(UInt32.random(in: 0...UInt32.max))"
        let client = try ownerClient(poolSize: 1, applicationName: name)
        let observer = try ownerClient(poolSize: 1)
        let marker = "cancel_me_\(UInt32.random(in: 0...UInt32.max))"

        // The statement to cancel goes first, so that reads are pipelined behind it.
        let sleeper = Task { () -> PostgresError? in
            do throws(PostgresError) {
                _ = try await client.read(PostgresQuery(unsafeSQL: "SELECT pg_sleep(30) AS \(marker)"))
                return nil
            } catch {
                return error
            }
        }
        var sleeperPID = 0
        for _ in 0..<500 where sleeperPID == 0 {
            sleeperPID =
                try await observer.query(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = \(name) AND state = 'active' AND query LIKE \("%" + marker + "%")"
                ).first.map { try $0.decode(Int.self, at: 0) } ?? 0
            if sleeperPID == 0 { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(sleeperPID != 0, "the long statement never showed in pg_stat_activity")

        enum Outcome: Sendable, Equatable {
            case row(Int, pid: Int)
            case failed(String?)
        }
        let outcomes = try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
            for index in 0..<1000 {
                group.addTask {
                    let query: PostgresQuery =
                        switch index % 10 {
                        case 3: "SELECT \("not a number \(index)")::int8 AS n, pg_backend_pid() AS pid"
                        case 7: "SELECT 1 / \(index - index) AS n, pg_backend_pid() AS pid"
                        default: "SELECT \(index)::int8 + 0 AS n, pg_backend_pid() AS pid"
                        }
                    do throws(PostgresError) {
                        let rows = try await client.read(query)
                        guard rows.count == 1 else { return (index, .failed("rows: \(rows.count)")) }
                        return (index, .row(try rows[0].decode(Int.self, at: 0), pid: try rows[0].decode(Int.self, at: 1)))
                    } catch {
                        return (index, .failed(error.sqlState ?? "\(error.code): \(error.message)"))
                    }
                }
            }
            // Cancel the long statement while the thousand are in flight.
            _ = try await observer.query("SELECT pg_cancel_backend(\(Int32(sleeperPID)))")
            var outcomes: [Int: Outcome] = [:]
            for try await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes
        }

        #expect(await sleeper.value?.sqlState == PostgresError.queryCanceled)
        #expect(outcomes.count == 1000)
        var pids: Set<Int> = []
        for (index, outcome) in outcomes.sorted(by: { $0.key < $1.key }) {
            switch (index % 10, outcome) {
            case (3, .failed("22P02")), (7, .failed("22012")):
                continue
            case (3, _), (7, _):
                Issue.record("read \(index) should have failed with its own error, got \(outcome)")
            case (_, .row(let value, let pid)):
                #expect(value == index, "read \(index) got the row of read \(value)")
                pids.insert(pid)
            case (_, .failed(let state)):
                Issue.record("read \(index) failed (\(state ?? "no SQLSTATE"))")
            }
        }
        let limit = PostgresClient.eventLoopCount * client.configuration.pipelinedConnectionsPerLoop
        #expect(pids.count <= limit, "\(pids.count) server connections carried the reads; at most \(limit) expected")
        #expect(!pids.isEmpty)
        // One connection carried many reads at once.
        #expect(pids.count < 100)
        await client.shutdown()
        await observer.shutdown()
    }

    /// The reads sent on a connection in one turn of its loop end with one Sync: the server runs them in
    /// one implicit transaction, so they see the same `now()` (each Sync of its own would start a
    /// transaction, and a clock reading, per read). A failing statement in such a group makes the server
    /// skip the rest of the group; the skipped reads are sent again, each alone, and get their own rows.
    @Test func theReadsOfATurnShareOneSyncAndAFailureAmongThemFailsAlone() async throws {
        let client = try ownerClient(poolSize: 1)
        enum Outcome: Sendable {
            case row(Int, transaction: String)
            case failed(String?)
        }
        /// `count` reads at once, those for which `fails` holds a division by zero; the rest answer their
        /// own number and their transaction.
        func readAtOnce(_ count: Int, failing fails: @escaping @Sendable (Int) -> Bool) async -> [Int: Outcome] {
            await withTaskGroup(of: (Int, Outcome).self) { group in
                for index in 0..<count {
                    group.addTask {
                        let divisor = fails(index) ? 0 : 1
                        let query: PostgresQuery =
                            "SELECT \(index)::int8 / \(divisor)::int8 AS n, pg_backend_pid()::text || '@' || now()::text AS transaction"
                        do throws(PostgresError) {
                            let rows = try await client.read(query)
                            return (index, .row(try rows[0].decode(Int.self, at: 0), transaction: try rows[0].decode(String.self, at: 1)))
                        } catch {
                            return (index, .failed(error.sqlState ?? "\(error.code): \(error.message)"))
                        }
                    }
                }
                var outcomes: [Int: Outcome] = [:]
                for await (index, outcome) in group { outcomes[index] = outcome }
                return outcomes
            }
        }
        /// Checks that each read got its own answer; the transactions of those answered with a row.
        func check(_ outcomes: [Int: Outcome], failing fails: (Int) -> Bool) -> [String: Int] {
            #expect(outcomes.count == 600)
            var transactions: [String: Int] = [:]
            for (index, outcome) in outcomes.sorted(by: { $0.key < $1.key }) {
                switch (fails(index), outcome) {
                case (true, .failed("22012")):
                    continue
                case (true, _):
                    Issue.record("read \(index) should have failed with its own division by zero, got \(outcome)")
                case (false, .row(let value, let transaction)):
                    #expect(value == index, "read \(index) got the row of read \(value)")
                    transactions[transaction, default: 0] += 1
                case (false, .failed(let state)):
                    Issue.record("read \(index) failed (\(state ?? "no SQLSTATE")) though only other reads of its group did")
                }
            }
            return transactions
        }

        // Grouped: far fewer transactions than reads, and some transaction carried many reads.
        let grouped = check(await readAtOnce(600) { _ in false }) { _ in false }
        #expect(grouped.count < 200, "\(grouped.count) transactions for 600 reads")
        #expect((grouped.values.max() ?? 0) >= 8, "the largest group held \(grouped.values.max() ?? 0) reads")
        // One in six fails: the rest still get their own rows.
        let failing: @Sendable (Int) -> Bool = { $0 % 6 == 5 }
        let answered = check(await readAtOnce(600, failing: failing), failing: failing)
        #expect(answered.values.reduce(0, +) == 500)
        await client.shutdown()
    }

    /// A statement whose Parse failed (its table did not exist yet) is prepared again once it can be, and
    /// one whose Bind failed (a bad cast of a bind) stays prepared and answers the next read.
    @Test func aStatementIsPreparedAgainAfterItsParseFailed() async throws {
        let client = try ownerClient(poolSize: 1)
        let table = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let select = { (value: String) in PostgresQuery(unsafeSQL: "SELECT n FROM \(table) WHERE n = $1::int8", binds: [value.postgresBind]) }
        let missing = await #expect(throws: PostgresError.self) { try await client.read(select("1")) }
        #expect(missing?.sqlState == "42P01")
        try await client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (n int8)"))
        try await client.query(PostgresQuery(unsafeSQL: "INSERT INTO \(table) VALUES (1), (2)"))
        for _ in 0..<3 {
            #expect(try await client.read(select("1"))[0].decode(Int.self, at: 0) == 1)
            let badCast = await #expect(throws: PostgresError.self) { try await client.read(select("one")) }
            #expect(badCast?.sqlState == "22P02")
            #expect(try await client.read(select("2"))[0].decode(Int.self, at: 0) == 2)
        }
        try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table)"))
        await client.shutdown()
    }

    /// The server's statement_timeout cancels one slow read in the middle of a full pipeline: that read
    /// fails with 57014, every read sent behind it is answered, and later reads work on the same client.
    @Test func aStatementTimeoutFailsOnlyItsOwnRead() async throws {
        let client = try ownerClient(poolSize: 1, queryTimeout: .seconds(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let error = await #expect(throws: PostgresError.self) { try await client.read("SELECT pg_sleep(5)") }
                #expect(error?.sqlState == PostgresError.queryCanceled)
            }
            try await Task.sleep(for: .milliseconds(50))
            for index in 0..<300 {
                group.addTask {
                    let rows = try await client.read("SELECT \(index)::int8 + 0")
                    #expect(try rows[0].decode(Int.self, at: 0) == index)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await client.read("SELECT 42::int8")[0].decode(Int.self, at: 0) == 42)
        await client.shutdown()
    }

    /// The server stops answering (every backend of the client stopped with SIGSTOP): each read in flight
    /// fails with `.timeout` at its deadline, none hangs; once the backends run again, new reads work on
    /// the same client over new connections.
    @Test func aServerThatStopsAnsweringTimesOutEveryReadInFlight() async throws {
        let name = "postgres-pipeline-stall-\(UInt32.random(in: 0...UInt32.max))"
        let client = try ownerClient(poolSize: 1, queryTimeout: .seconds(1), applicationName: name)
        let observer = try ownerClient(poolSize: 1)
        // Open the pipelined connections of every loop.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 { group.addTask { _ = try await client.read("SELECT pg_backend_pid()") } }
            try await group.waitForAll()
        }
        let pids = try await observer.query("SELECT pid FROM pg_stat_activity WHERE application_name = \(name)").map {
            try $0.decode(Int32.self, at: 0)
        }
        #expect(!pids.isEmpty)
        for pid in pids { kill(pid, SIGSTOP) }
        let started = ContinuousClock.now
        let errors = await withTaskGroup(of: PostgresError?.self) { group in
            for index in 0..<100 {
                group.addTask {
                    do throws(PostgresError) {
                        _ = try await client.read("SELECT \(index)::int8")
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            var errors: [PostgresError?] = []
            for await error in group { errors.append(error) }
            return errors
        }
        let waited = ContinuousClock.now - started
        for pid in pids { kill(pid, SIGCONT) }
        // Reads that went to a stopped backend time out; a read may also have opened a fresh connection
        // (the chooser avoids a stalled one), which answers.
        #expect(errors.contains { $0?.code == .timeout })
        #expect(errors.allSatisfy { $0 == nil || $0?.code == .timeout }, "\(errors.compactMap { $0 })")
        // Deadline: the 1 s statement timeout plus the client's 2 s margin, with room for a loaded machine.
        #expect(waited < .seconds(10))
        for index in 0..<20 {
            #expect(try await client.read("SELECT \(index)::int8")[0].decode(Int.self, at: 0) == index)
        }
        await client.shutdown()
        await observer.shutdown()
    }

    /// A `PostgresStatement`'s reads, on pipelined and on exclusive connections: each gets its own bound
    /// values back (a UUID in binary, an integer, a NULL that takes the declared type), and the connections
    /// prepare it once each, by its key: the server counts one prepared statement of that text per backend.
    @Test func aStatementIsPreparedOncePerConnectionAndAnswersEachReadWithItsOwnValues() async throws {
        let name = "postgres-statement-\(UInt32.random(in: 0...UInt32.max))"
        // A fourth of the 200 lease one of 4 exclusive connections: give their checkout room on a machine
        // busy with the whole suite (seen once: 5 s were not enough).
        let client = try ownerClient(poolSize: 4, checkoutTimeout: .seconds(30), applicationName: name)
        let marker = "statement_\(UInt32.random(in: 0...UInt32.max))"
        let statement = PostgresStatement(
            "SELECT $1::uuid AS id, $2::int8 AS n, $3::int8 IS NULL AS missing, count(*) AS \(marker) FROM pg_prepared_statements WHERE statement LIKE '%\(marker)%'",
            types: [PostgresOID.uuid, PostgresOID.int8, PostgresOID.int8]
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let id = UUID()
                    let query = statement(id, index, index % 3 == 0 ? nil : index)
                    let rows = index % 4 == 0 ? try await client.query(query) : try await client.read(query)
                    let row = try #require(rows.first)
                    #expect(try row.decode(UUID.self, at: 0) == id)
                    #expect(try row.decode(Int.self, at: 1) == index)
                    #expect(try row.decode(Bool.self, at: 2) == (index % 3 == 0))
                    // Prepared on this backend before it ran, once, whatever the read's number.
                    #expect(try row.decode(Int.self, at: 3) == 1)
                }
            }
            try await group.waitForAll()
        }
    }
}
