import ClusterHarness
import Foundation
import Postgres
import Testing

@Suite(Cluster.needed) struct BindSafetyTests {
    static let hostile = [
        "'; DROP TABLE students; --",
        "' OR '1'='1",
        "$1",
        "$2; SELECT 1",
        "\\'; SELECT pg_sleep(10); --",
        "\"quoted\" identifier",
        "); DELETE FROM x; (",
        "E'\\x00'",
        "/* comment */ --",
        "\u{202E}right-to-left",
    ]

    @Test(arguments: hostile)
    func aBindIsStoredAsTextAndNeverRunAsSQL(_ value: String) async throws {
        let client = try ownerClient()
        try await withScratchTable(client, columns: "id serial PRIMARY KEY, value text") { (table: String) async throws in
            try await client.query("INSERT INTO \(unsafeSQL: table) (value) VALUES (\(value))")
            let stored = try await client.scalar("SELECT value FROM \(unsafeSQL: table) WHERE value = \(value)", as: String.self)
            #expect(stored == value)
            #expect(try await client.scalar("SELECT count(*) FROM \(unsafeSQL: table)", as: Int.self) == 1)
        }
    }

    @Test func aNulByteInTextIsRefusedBeforeAnythingIsSent() async throws {
        let client = try ownerClient()
        try await withScratchTable(client, columns: "value text") { (table: String) async throws in
            let error = await #expect(throws: PostgresError.self) {
                try await client.query("INSERT INTO \(unsafeSQL: table) VALUES (\("before\u{0}'; DROP TABLE \(table); --"))")
            }
            #expect(error?.code == .invalidBind)
            #expect(try await client.scalar("SELECT count(*) FROM \(unsafeSQL: table)", as: Int.self) == 0)
        }
    }

    @Test func nulBytesTravelIntactInBytea() async throws {
        let client = try ownerClient()
        let bytes = Data([0, 39, 59, 0, 36, 49, 0])  // NUL ' ; NUL $ 1 NUL
        #expect(try await client.scalar("SELECT \(bytes)::bytea", as: Data.self) == bytes)
    }

    @Test func interpolationNumbersBindsInOrder() {
        let query: PostgresQuery = "SELECT \(1), \("two"), \(unsafeSQL: "3"), \(Int?.none)"
        #expect(query.sql == "SELECT $1, $2, 3, $3")
        #expect(query.binds.count == 3)
        #expect(query.binds[2] == .null)
    }
}
