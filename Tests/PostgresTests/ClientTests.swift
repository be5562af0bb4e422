import ClusterHarness
import Foundation
import Postgres
import Synchronization
import Testing

@Suite(Cluster.needed) struct ClientTests {
    @Test func sixtyFourTasksShareAPoolOfEight() async throws {
        let client = try ownerClient(poolSize: 8, checkoutTimeout: .seconds(30))
        try await withScratchTable(client, columns: "task int PRIMARY KEY, backend int") { (table: String) async throws in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<64 {
                    group.addTask {
                        try await client.query("INSERT INTO \(unsafeSQL: table) VALUES (\(task), pg_backend_pid())")
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await client.scalar("SELECT count(*) FROM \(unsafeSQL: table)", as: Int.self) == 64)
            #expect(try await client.scalar("SELECT count(DISTINCT backend) FROM \(unsafeSQL: table)", as: Int.self) <= 8)
        }
        #expect(client.poolStatistics.leased == 0)
    }

    /// If libpq calls held Swift's cooperative threads (two on this machine) while they wait for the server,
    /// at most two statements could wait at once, and nothing else on the pool (this test's own observer
    /// included) could run until one ended. Shown by events, not by a clock: sixteen statements wait on a
    /// lock this test holds, and an observer running on the pool meanwhile sees all sixteen waiting on the
    /// server at the same moment, before the lock is let go and before any of them has ended.
    @Test func blockingCallsDoNotOccupyCooperativeThreads() async throws {
        let name = "postgres-tests-blocking-\(UInt32.random(in: 0...UInt32.max))"
        let client = try ownerClient(poolSize: 16, queryTimeout: .seconds(20), applicationName: name)
        let gate = try ownerClient(poolSize: 1)
        let observer = try ownerClient(poolSize: 1)
        let key = Int.random(in: 1...Int.max)
        let ended = Counter()
        try await gate.withConnection { session in
            try await session.query("SELECT pg_advisory_lock(\(key))")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        defer { ended.add() }
                        try await client.query("SELECT pg_advisory_xact_lock_shared(\(key))")
                    }
                }
                var most = 0
                while most < 16 && ended.value == 0 {
                    let waiting = try await observer.scalar(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = \(name) AND wait_event_type = 'Lock'",
                        as: Int.self
                    )
                    most = max(most, waiting)
                    if most < 16 { try await Task.sleep(for: .milliseconds(5)) }
                }
                let endedBeforeRelease = ended.value
                try await session.query("SELECT pg_advisory_unlock(\(key))")
                #expect(most == 16, "at most \(most) statements were waiting on the server at once")
                #expect(endedBeforeRelease == 0, "\(endedBeforeRelease) statements ended while the lock was held")
                try await group.waitForAll()
            }
        }
        #expect(ended.value == 16)
        for pool in [client, gate, observer] { await pool.shutdown() }
    }

    @Test func aTransactionCommitsWhenItsBodyReturns() async throws {
        let client = try ownerClient()
        try await withScratchTable(client, columns: "value int") { (table: String) async throws in
            try await client.withTransaction { tx in
                try await tx.query("INSERT INTO \(unsafeSQL: table) VALUES (1)")
                try await tx.query("INSERT INTO \(unsafeSQL: table) VALUES (2)")
            }
            #expect(try await client.scalar("SELECT count(*) FROM \(unsafeSQL: table)", as: Int.self) == 2)
        }
    }

    @Test func aTransactionRollsBackWhenItsBodyThrows() async throws {
        struct Abort: Error {}
        let client = try ownerClient(poolSize: 1)
        try await withScratchTable(client, columns: "value int") { (table: String) async throws in
            await #expect(throws: Abort.self) {
                try await client.withTransaction { tx in
                    try await tx.query("INSERT INTO \(unsafeSQL: table) VALUES (1)")
                    throw Abort()
                }
            }
            let error = await #expect(throws: PostgresError.self) {
                try await client.withTransaction { tx in
                    try await tx.query("INSERT INTO \(unsafeSQL: table) VALUES (2)")
                    try await tx.query("INSERT INTO \(unsafeSQL: table) VALUES ('not a number')")
                }
            }
            #expect(error?.sqlState == "22P02")
            #expect(try await client.scalar("SELECT count(*) FROM \(unsafeSQL: table)", as: Int.self) == 0)
        }
    }

    @Test func aTransactionLeftOpenByACallerIsNotInheritedByTheNext() async throws {
        let client = try ownerClient(poolSize: 1)
        try await withScratchTable(client, columns: "value int") { (table: String) async throws in
            try await client.withConnection { session in
                try await session.query("BEGIN")
                try await session.query("INSERT INTO \(unsafeSQL: table) VALUES (1)")
            }
            // The next lease finds the connection inside a transaction and replaces it; the insert is rolled back.
            #expect(try await client.scalar("SELECT count(*) FROM \(unsafeSQL: table)", as: Int.self) == 0)
        }
    }

    @Test func serverErrorsCarryTheirSQLStateAndConstraint() async throws {
        let client = try ownerClient()
        let syntax = await #expect(throws: PostgresError.self) { try await client.query("SELEC 1") }
        #expect(syntax?.code == .server)
        #expect(syntax?.sqlState == "42601")
        try await withScratchTable(client, columns: "id int CONSTRAINT scratch_id_unique UNIQUE") { (table: String) async throws in
            try await client.query("INSERT INTO \(unsafeSQL: table) VALUES (1)")
            let duplicate = await #expect(throws: PostgresError.self) { try await client.query("INSERT INTO \(unsafeSQL: table) VALUES (1)") }
            #expect(duplicate?.sqlState == PostgresError.uniqueViolation)
            #expect(duplicate?.constraint == "scratch_id_unique")
            #expect(duplicate.map { "\($0)" } == "PostgresError(server, sqlState: 23505, constraint: scratch_id_unique)")
        }
    }

    @Test func aSlowStatementIsCancelledAtTheQueryTimeout() async throws {
        let client = try ownerClient(queryTimeout: .milliseconds(500))
        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresError.self) { try await client.query("SELECT pg_sleep(60)") }
        // The server cancels at 500 ms (57014); when the whole suite starting on two cores delays that
        // answer past the client's own deadline (2 s later), the client gives up with .timeout. Either way
        // the call ends long before the statement would have.
        #expect(error?.sqlState == PostgresError.queryCanceled || error?.code == .timeout, "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(try await client.scalar("SELECT 1", as: Int.self) == 1)
    }

    /// Two transactions that wait for each other's lock: the server breaks the deadlock by failing one,
    /// whose error says "not now" (transient), not "unavailable" and not "never".
    @Test func aDeadlockIsTransient() async throws {
        let client = try ownerClient(poolSize: 2)
        let key = Int.random(in: 1_000_000...9_000_000)
        let outcomes = await withTaskGroup(of: PostgresError?.self) { group in
            for (first, second) in [(key, key + 1), (key + 1, key)] {
                group.addTask {
                    do {
                        try await client.withTransaction { tx in
                            _ = try await tx.query("SELECT pg_advisory_xact_lock(\(first))")
                            // Both hold their first lock before either asks for its second.
                            _ = try await tx.query("SELECT pg_sleep(0.3)")
                            _ = try await tx.query("SELECT pg_advisory_xact_lock(\(second))")
                        }
                        return nil
                    } catch {
                        return error as? PostgresError
                    }
                }
            }
            return await group.reduce(into: [PostgresError?]()) { $0.append($1) }
        }
        let failed = outcomes.compactMap { $0 }
        #expect(failed.count == 1, "\(outcomes)")
        #expect(failed.first?.sqlState == PostgresError.deadlockDetected)
        #expect(failed.first?.isTransient == true)
        #expect(failed.first?.isUnavailable == false)
        #expect(PostgresError(code: .server, sqlState: PostgresError.uniqueViolation).isTransient == false)
        #expect(PostgresError(code: .connectionLost).isTransient == false)
    }

    @Test func aCallerWaitsNoLongerThanTheCheckoutTimeout() async throws {
        let client = try ownerClient(poolSize: 1, checkoutTimeout: .milliseconds(200))
        try await client.withConnection { _ in
            let started = ContinuousClock.now
            let error = await #expect(throws: PostgresError.self) { try await client.query("SELECT 1") }
            #expect(error?.code == .poolTimeout)
            #expect(error?.isUnavailable == true)
            // Bounded, not hanging: loose, since the whole suite starts on two cores at the same time.
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test func aPreparedStatementSurvivesAChangeOfTheTablesShape() async throws {
        let client = try ownerClient(poolSize: 1)
        try await withScratchTable(client, columns: "id int, title text") { (table: String) async throws in
            try await client.query("INSERT INTO \(unsafeSQL: table) VALUES (1, 'a')")
            for _ in 0..<3 {
                #expect(try await client.scalar("SELECT title FROM \(unsafeSQL: table) WHERE id = \(1)", as: String.self) == "a")
            }
            try await client.query("ALTER TABLE \(unsafeSQL: table) ALTER COLUMN title TYPE varchar(10)")
            try await client.query("ALTER TABLE \(unsafeSQL: table) ADD COLUMN extra int")
            // The server refuses the old plan; outside a transaction the client prepares it again and retries.
            #expect(try await client.scalar("SELECT title FROM \(unsafeSQL: table) WHERE id = \(1)", as: String.self) == "a")
        }
    }

    /// PostgreSQL's own choice plans a prepared statement anew for each of its first five calls at least;
    /// `.generic` plans it once (pg_prepared_statements counts both kinds per statement, in this one
    /// session). The setting follows each statement with binds, and a transaction leaves it as it was.
    @Test func aGenericPlanIsPlannedOnceAndTheSettingFollowsEachStatement() async throws {
        let client = try ownerClient(poolSize: 1)
        let page = "SELECT x FROM generate_series(1, 1000) x WHERE x > $1 ORDER BY x LIMIT $2"
        let binds = [10.postgresBind, 21.postgresBind]
        for _ in 0..<10 { try await client.query(PostgresQuery(unsafeSQL: page, binds: binds).planned(.generic)) }
        #expect(try await client.scalar("SHOW plan_cache_mode", as: String.self) == "force_generic_plan")
        let plans = try await client.query("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = \(page)")
        #expect(try plans.first?.decode(Int.self, at: 0) == 10)
        #expect(try plans.first?.decode(Int.self, at: 1) == 0)
        // That statement had binds and left the choice to the server: back to auto.
        #expect(try await client.scalar("SHOW plan_cache_mode", as: String.self) == "auto")

        // Inside a transaction the setting stays (a rollback would undo a change unseen).
        try await client.withTransaction { tx in
            try await tx.query(PostgresQuery(unsafeSQL: page, binds: binds).planned(.generic))
            #expect(try await tx.query("SHOW plan_cache_mode").first?.decode(String.self, at: 0) == "auto")
        }
    }

    @Test func aConnectionTerminatedByTheServerIsReplacedTransparently() async throws {
        let client = try ownerClient(poolSize: 1)
        let admin = try PostgresClient(configuration: .init(connectionString: try Cluster.admin("primary")))
        let before = try await client.scalar("SELECT pg_backend_pid()", as: Int.self)
        #expect(try await admin.scalar("SELECT pg_terminate_backend(\(before)::int)", as: Bool.self))
        try await Task.sleep(for: .milliseconds(200))
        let after = try await client.scalar("SELECT pg_backend_pid()", as: Int.self)
        #expect(after != before)
    }
}

@Suite(Cluster.needed) struct ErrorHygieneTests {
    @Test func aWrongPasswordSaysSoWithoutThePassword() async throws {
        let real = try Cluster.value("CATALOG_MIGRATOR_PRIMARY")
        let wrong = real.replacingOccurrences(of: #"password=\S+"#, with: "password=hunter2-not-it", options: .regularExpression)
        let client = try PostgresClient(configuration: .init(connectionString: wrong))
        let error = await #expect(throws: PostgresError.self) { try await client.query("SELECT 1") }
        #expect(error?.code == .authenticationFailed)
        let texts = [error.map { "\($0)" }, error?.debugDescription, error?.message].compactMap { $0 }
        for text in texts {
            #expect(!text.contains("hunter2"))
            #expect(!text.contains(real))
        }
    }

    @Test func anUnparsableConnectionStringIsRejectedWithoutQuotingIt() {
        let error = #expect(throws: PostgresError.self) {
            try PostgresClient(configuration: .init(connectionString: "host=x password=s3cret-value nonsense"))
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error.map { !$0.debugDescription.contains("s3cret") } == true)
    }

    @Test func redactionRemovesPasswordsAndCredentialedURIs() {
        let error = PostgresError(
            code: .connectionFailed,
            message: "failed: password=abc123 host=x and postgresql://user:pw@host/db"
        )
        #expect(!error.debugDescription.contains("abc123"))
        #expect(!error.debugDescription.contains("user:pw"))
    }

    @Test func anUnreachableServerFailsFastWithATypedError() async throws {
        var configuration = PostgresClient.Configuration(connectionString: "host=127.0.0.1 port=1 dbname=x user=x password=x")
        // A refused connection fails at once; the bound, half the connect timeout, proves the call did
        // not wait for that timeout, with room for a machine loaded by the whole suite.
        configuration.connectTimeout = .seconds(30)
        let client = try PostgresClient(configuration: configuration)
        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresError.self) { try await client.query("SELECT 1") }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isUnavailable == true)
        #expect(ContinuousClock.now - started < .seconds(15))
    }
}

/// A count several tasks add to.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .releasing) }
    var value: Int { count.load(ordering: .acquiring) }
}
