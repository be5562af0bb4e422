import Foundation
import Testing

@testable import Postgres

/// Pure decoding and statement logic of the client: no cluster.
@Suite struct DecodingTests {
    func decode<Value: PostgresDecodable>(_ text: String, as type: Value.Type) -> Value? {
        Array(text.utf8).withUnsafeBytes { try? Value(postgresBytes: $0, oid: 0) }
    }

    @Test func integersFromTheirBytesMatchTheirTextForm() {
        for value in [0, 1, -1, 42, -42, Int.max, Int.min, 1_000_000_007] {
            #expect(decode(String(value), as: Int.self) == value)
        }
        #expect(decode(String(Int32.min), as: Int32.self) == Int32.min)
        #expect(decode(String(Int32.max), as: Int32.self) == Int32.max)
        #expect(decode(String(Int16.min), as: Int16.self) == Int16.min)
        #expect(decode(String(Int16.max), as: Int16.self) == Int16.max)
    }

    @Test func whatIsNotAnIntegerOrDoesNotFitFails() {
        for text in ["", "-", "+1", " 1", "1 ", "1.0", "0x10", "9223372036854775808", "-9223372036854775809", "12a", "١٢"] {
            #expect(decode(text, as: Int.self) == nil, "\(text)")
        }
        #expect(decode("32768", as: Int16.self) == nil)
        #expect(decode("-32769", as: Int16.self) == nil)
        #expect(decode("2147483648", as: Int32.self) == nil)
    }

    @Test func booleansAndOptionalsFromBytes() {
        #expect(decode("t", as: Bool.self) == true)
        #expect(decode("f", as: Bool.self) == false)
        #expect(decode("true", as: Bool.self) == true)
        #expect(decode("x", as: Bool.self) == nil)
        #expect(decode("7", as: Int?.self) == .some(7))
        // Types without a bytes initializer of their own go through their text form.
        #expect(decode("2.5", as: Double.self) == 2.5)
        #expect(decode("héllo", as: String.self) == "héllo")
    }

    @Test func aUUIDBindsAsItsSixteenBytesAndAsTextInsideAnArray() throws {
        let id = try #require(UUID(uuidString: "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"))
        let bind = id.postgresBind
        #expect(bind.format == .binary)
        #expect(bind.oid == PostgresOID.uuid)
        #expect(bind.bytes == [0x0A, 0x1B, 0x2C, 0x3D, 0x4E, 0x5F, 0x60, 0x71, 0x82, 0x93, 0xA4, 0xB5, 0xC6, 0xD7, 0xE8, 0xF9])
        let array = [id, id].postgresBind
        #expect(array.format == .text)
        #expect(
            array.bytes.map { String(decoding: $0, as: UTF8.self) }
                == #"{"0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9","0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"}"#
        )
    }

    @Test func aStatementKeepsItsKeyWhenTheBindsHaveItsTypes() {
        let statement = PostgresStatement("SELECT $1::uuid, $2::int8", types: [PostgresOID.uuid, PostgresOID.int8])
        let other = PostgresStatement("SELECT $1::uuid, $2::int8", types: [PostgresOID.uuid, PostgresOID.int8])
        let query = statement(UUID(), 7)
        #expect(query.statement == statement.key)
        #expect(query.statement != other.key, "two statements of the same text are two keys")
        #expect(query.sql == statement.sql)
        // NULL takes the declared type, so the statement is prepared with the same types every time.
        let withNull = statement(UUID(), nil)
        #expect(withNull.statement == statement.key)
        #expect(withNull.binds.map(\.oid) == [PostgresOID.uuid, PostgresOID.int8])
        // Other types or another count: a plain query of the same SQL, prepared by its text.
        #expect(statement(UUID(), "7").statement == nil)
        #expect(statement(UUID()).statement == nil)
    }
}
