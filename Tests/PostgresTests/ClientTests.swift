import ClusterHarness
import Foundation
import Postgres
import Testing

@Suite struct ClientTests {
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

    /// If libpq calls ran on Swift's cooperative threads (two on this machine), sixteen two-second sleeps
    /// would take sixteen seconds; on the connections' own threads they overlap (about two).
    @Test func blockingCallsDoNotOccupyCooperativeThreads() async throws {
        let client = try ownerClient(poolSize: 16)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 { group.addTask { try await client.query("SELECT pg_sleep(2)") } }
            try await group.waitForAll()
        }
        // Sixteen seconds if they blocked; the bound leaves room for a machine loaded by the whole suite
        // (a clean-clone run took 7.1 s for sixteen one-second sleeps, the limit then being 6 s).
        #expect(ContinuousClock.now - started < .seconds(12))
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

@Suite struct ErrorHygieneTests {
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
