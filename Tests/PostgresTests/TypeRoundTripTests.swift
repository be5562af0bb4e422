import ClusterHarness
import Foundation
import Postgres
import Testing

@Suite(Cluster.needed) struct TypeRoundTripTests {
    struct Payload: Codable, Equatable, Sendable {
        var title: String
        var songs: [String]
        var year: Int?
    }

    @Test func everySupportedTypeSurvivesAnInsertAndASelect() async throws {
        let client = try ownerClient()
        let id = UUID()
        let moment = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let bytes = Data((0...255).map { UInt8($0) })
        let payload = Payload(title: "Kind of Blue \u{1F3BA}", songs: ["So What", "Blue in Green"], year: 1959)
        try await withScratchTable(
            client,
            columns: """
                t text, i8 bigint, i4 integer, i2 smallint, d double precision, b boolean, u uuid,
                ts timestamptz, by bytea, j jsonb, n text
                """
        ) { table in
            try await client.query(
                """
                INSERT INTO \(unsafeSQL: table) VALUES (\("Miles 'Davis' \"quoted\" \\ ünïcödé"), \(Int.min), \(Int32.max), \(Int16.min),
                    \(3.141592653589793), \(true), \(id), \(moment), \(bytes), \(PostgresJSON(payload)), \(nil as String?))
                """
            )
            let rows = try await client.query("SELECT t, i8, i4, i2, d, b, u, ts, by, j, n FROM \(unsafeSQL: table)")
            #expect(rows.count == 1)
            let row = rows[0]
            #expect(try row.decode(String.self, at: 0) == "Miles 'Davis' \"quoted\" \\ ünïcödé")
            #expect(try row.decode(Int.self, at: 1) == Int.min)
            #expect(try row.decode(Int32.self, at: 2) == Int32.max)
            #expect(try row.decode(Int16.self, at: 3) == Int16.min)
            #expect(try row.decode(Double.self, at: 4) == 3.141592653589793)
            #expect(try row.decode(Bool.self, at: 5) == true)
            #expect(try row.decode(UUID.self, at: 6) == id)
            #expect(abs(try row.decode(Date.self, at: 7).timeIntervalSince(moment)) < 0.000_001)
            #expect(try row.decode(Data.self, at: 8) == bytes)
            #expect(try row.decode(PostgresJSON<Payload>.self, at: 9).value == payload)
            #expect(try row.decode(String?.self, at: 10) == nil)
            #expect(try row.decode(Int.self, column: "i8") == Int.min)
        }
    }

    @Test(arguments: [
        "1970-01-01 00:00:00+00", "2026-11-21 10:05:00.5+00", "1859-12-31 23:59:59.999999+00", "2100-02-28 12:00:00.000001+00",
        "0044-03-15 12:00:00+00 BC",
    ])
    func timestampsMatchTheServersOwnArithmetic(_ text: String) async throws {
        let client = try ownerClient()
        let rows = try await client.query(
            "SELECT \(text)::timestamptz, extract(epoch FROM \(text)::timestamptz)::float8, \(text)::timestamptz = \(try ownerSideDate(text))"
        )
        let decoded = try rows[0].decode(Date.self, at: 0)
        let epoch = try rows[0].decode(Double.self, at: 1)
        #expect(abs(decoded.timeIntervalSince1970 - epoch) < 0.000_001)
        #expect(try rows[0].decode(Bool.self, at: 2))
    }

    /// The date as the client encodes it, to compare on the server.
    private func ownerSideDate(_ text: String) async throws -> Date {
        let client = try ownerClient()
        return try await client.scalar("SELECT \(text)::timestamptz", as: Date.self)
    }

    @Test func specialValuesRoundTrip() async throws {
        let client = try ownerClient()
        let rows = try await client.query(
            """
            SELECT \(Double.infinity)::float8, \(-Double.infinity)::float8, \(Double.nan)::float8, \(Date.distantFuture)::timestamptz,
                   \("")::text, \(Data())::bytea, \([UUID(), UUID()])::uuid[], array_length(\(["a\"b", "c,d", "{e}", "\\"])::text[], 1),
                   (\(["a\"b", "c,d", "{e}", "\\"])::text[])[4], \(Int?.none)::bigint IS NULL
            """
        )
        let row = rows[0]
        #expect(try row.decode(Double.self, at: 0) == .infinity)
        #expect(try row.decode(Double.self, at: 1) == -.infinity)
        #expect(try row.decode(Double.self, at: 2).isNaN)
        #expect(try row.decode(Date.self, at: 3) == .distantFuture)
        #expect(try row.decode(String.self, at: 4) == "")
        #expect(try row.decode(Data.self, at: 5) == Data())
        #expect(try row.decode(Int.self, at: 7) == 4)
        #expect(try row.decode(String.self, at: 8) == "\\")
        #expect(try row.decode(Bool.self, at: 9))
    }

    /// A quote or backslash followed by a combining mark is one Swift Character; the array literal must
    /// still escape it (found by schemathesis: a song title starting with U+0301 made a 500).
    @Test func arrayElementsWithCombiningMarksAfterQuotesRoundTrip() async throws {
        let client = try ownerClient()
        let elements = ["\"\u{301}x", "\\\u{301}", "{\"title\":\"\u{1F3FB}ć\"}", "a\",\u{301}\"b"]
        let rows = try await client.query("SELECT a, array_length(a, 1) FROM (SELECT \(elements)::text[] AS a) s")
        #expect(try rows[0].decode(Int.self, at: 1) == elements.count)
        for (index, element) in elements.enumerated() {
            let back = try await client.scalar("SELECT (\(elements)::text[])[\(index + 1)]", as: String.self)
            #expect(back.unicodeScalars.elementsEqual(element.unicodeScalars), "\(index)")
        }
    }

    @Test func decodingTheWrongTypeIsATypedErrorThatDoesNotQuoteTheValue() async throws {
        let client = try ownerClient()
        let rows = try await client.query("SELECT 'secret-looking value'::text, NULL::int")
        let error = #expect(throws: PostgresError.self) { try rows[0].decode(Int.self, at: 0) }
        #expect(error?.code == .decoding)
        #expect(error.map { !"\($0)".contains("secret") && !$0.debugDescription.contains("secret") } == true)
        #expect(throws: PostgresError.self) { try rows[0].decode(Int.self, at: 1) }
        #expect(try rows[0].decode(Int?.self, at: 1) == nil)
    }
}
