import Foundation

/// A Swift value that can be sent as a bind.
public protocol PostgresEncodable: Sendable {
    var postgresBind: PostgresBind { get }
}

/// A Swift value that can be read from a column in PostgreSQL's text format.
public protocol PostgresDecodable {
    init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError)
    /// From the column's bytes (text format) without a `String` between; by default through `postgresText`.
    init(postgresBytes bytes: UnsafeRawBufferPointer, oid: UInt32) throws(PostgresDecodingError)
}

extension PostgresDecodable {
    public init(postgresBytes bytes: UnsafeRawBufferPointer, oid: UInt32) throws(PostgresDecodingError) {
        try self.init(postgresText: String(decoding: bytes, as: UTF8.self), oid: oid)
    }
}

extension PostgresDecodable where Self: FixedWidthInteger & SignedInteger {
    /// Int, Int64, Int32 and Int16: the decimal digits read from the bytes, no `String` between.
    public init(postgresBytes bytes: UnsafeRawBufferPointer, oid: UInt32) throws(PostgresDecodingError) {
        guard let value = parseInteger(bytes, as: Self.self) else { throw PostgresDecodingError(expected: "\(Self.self)", oid: oid) }
        self = value
    }
}

/// A decimal integer as PostgreSQL's text format writes it (an optional minus, then digits), read from its
/// bytes; nil when it is not one or does not fit.
func parseInteger<Value: FixedWidthInteger & SignedInteger>(_ bytes: UnsafeRawBufferPointer, as type: Value.Type) -> Value? {
    var index = 0
    let negative = bytes.first == UInt8(ascii: "-")
    if negative { index = 1 }
    guard index < bytes.count else { return nil }
    var value: Value = 0
    while index < bytes.count {
        let digit = bytes[index] &- UInt8(ascii: "0")
        guard digit < 10 else { return nil }
        // Accumulate negatively so that the type's minimum parses too.
        let (times, overflowTimes) = value.multipliedReportingOverflow(by: 10)
        let (next, overflowPlus) = times.subtractingReportingOverflow(Value(digit))
        guard !overflowTimes, !overflowPlus else { return nil }
        value = next
        index += 1
    }
    if negative { return value }
    let (positive, overflow) = Value(0).subtractingReportingOverflow(value)
    return overflow ? nil : positive
}

/// Why a column could not become the requested type. The value itself is not included: it may be data
/// the caller does not want in a log line.
public struct PostgresDecodingError: Error, Sendable, Equatable {
    public var expected: String
    public var oid: UInt32
    public init(expected: String, oid: UInt32) {
        self.expected = expected
        self.oid = oid
    }
}

extension String: PostgresEncodable, PostgresDecodable {
    public var postgresBind: PostgresBind { PostgresBind(oid: PostgresOID.unknown, text: self) }
    public init(postgresText text: String, oid: UInt32) { self = text }
}

extension Substring: PostgresEncodable {
    public var postgresBind: PostgresBind { PostgresBind(oid: PostgresOID.unknown, text: String(self)) }
}

extension Int: PostgresEncodable, PostgresDecodable {
    public var postgresBind: PostgresBind { PostgresBind(oid: PostgresOID.int8, text: String(self)) }
    public init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError) {
        guard let value = Int(text) else { throw PostgresDecodingError(expected: "Int", oid: oid) }
        self = value
    }
}

extension Int64: PostgresEncodable, PostgresDecodable {
    public var postgresBind: PostgresBind { PostgresBind(oid: PostgresOID.int8, text: String(self)) }
    public init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError) {
        guard let value = Int64(text) else { throw PostgresDecodingError(expected: "Int64", oid: oid) }
        self = value
    }
}

extension Int32: PostgresEncodable, PostgresDecodable {
    public var postgresBind: PostgresBind { PostgresBind(oid: PostgresOID.int4, text: String(self)) }
    public init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError) {
        guard let value = Int32(text) else { throw PostgresDecodingError(expected: "Int32", oid: oid) }
        self = value
    }
}

extension Int16: PostgresEncodable, PostgresDecodable {
    public var postgresBind: PostgresBind { PostgresBind(oid: PostgresOID.int2, text: String(self)) }
    public init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError) {
        guard let value = Int16(text) else { throw PostgresDecodingError(expected: "Int16", oid: oid) }
        self = value
    }
}

extension Double: PostgresEncodable, PostgresDecodable {
    public var postgresBind: PostgresBind {
        let text: String =
            if isNaN { "NaN" } else if self == .infinity { "Infinity" } else if self == -.infinity { "-Infinity" } else {
                "\(self)"
            }
        return PostgresBind(oid: PostgresOID.float8, text: text)
    }
    public init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError) {
        switch text {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(text) else { throw PostgresDecodingError(expected: "Double", oid: oid) }
            self = value
        }
    }
}

extension Bool: PostgresEncodable, PostgresDecodable {
    public var postgresBind: PostgresBind { PostgresBind(oid: PostgresOID.bool, text: self ? "t" : "f") }
    public init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError) {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresDecodingError(expected: "Bool", oid: oid)
        }
    }
    public init(postgresBytes bytes: UnsafeRawBufferPointer, oid: UInt32) throws(PostgresDecodingError) {
        // The server writes t or f; anything longer goes the long way.
        if bytes.count == 1, bytes[0] == UInt8(ascii: "t") {
            self = true
        } else if bytes.count == 1, bytes[0] == UInt8(ascii: "f") {
            self = false
        } else {
            try self.init(postgresText: String(decoding: bytes, as: UTF8.self), oid: oid)
        }
    }
}

extension UUID: PostgresEncodable, PostgresDecodable {
    /// Binary format: the 16 bytes, with no text to write here or to parse on the server (Foundation's
    /// `uuidString` formats through `snprintf`).
    public var postgresBind: PostgresBind {
        let bytes = withUnsafeBytes(of: uuid) { Array($0) }
        return PostgresBind(oid: PostgresOID.uuid, bytes: bytes, format: .binary)
    }

    public init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError) {
        guard let value = UUID(uuidString: text) else { throw PostgresDecodingError(expected: "UUID", oid: oid) }
        self = value
    }

    /// The text form PostgreSQL writes, lower-case hex in 8-4-4-4-12 groups.
    var postgresText: [UInt8] {
        let digits: StaticString = "0123456789abcdef"
        var text: [UInt8] = []
        text.reserveCapacity(36)
        withUnsafeBytes(of: uuid) { bytes in
            digits.withUTF8Buffer { digits in
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
                    text.append(digits[Int(byte >> 4)])
                    text.append(digits[Int(byte & 0xF)])
                }
            }
        }
        return text
    }
}

/// `bytea`, sent in binary format so that every byte, NUL included, arrives as it is.
extension Data: PostgresEncodable, PostgresDecodable {
    public var postgresBind: PostgresBind { PostgresBind(oid: PostgresOID.bytea, bytes: Array(self), format: .binary) }
    public init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError) {
        // The server's bytea_output is "hex": \x followed by two hex digits a byte.
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            throw PostgresDecodingError(expected: "Data (hex bytea)", oid: oid)
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = Self.hexValue(utf8[index]), let low = Self.hexValue(utf8[index + 1]) else {
                throw PostgresDecodingError(expected: "Data (hex bytea)", oid: oid)
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = Data(bytes)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// `timestamptz` with microsecond precision. The session runs with DateStyle ISO and TimeZone UTC.
extension Date: PostgresEncodable, PostgresDecodable {
    public var postgresBind: PostgresBind {
        PostgresBind(oid: PostgresOID.timestamptz, text: PostgresTimestamp.format(self))
    }
    public init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError) {
        guard let date = PostgresTimestamp.parse(text) else { throw PostgresDecodingError(expected: "Date", oid: oid) }
        self = date
    }
}

/// A JSON document in a `json` or `jsonb` column, encoded and decoded with Foundation's JSON coders.
public struct PostgresJSON<Value: Codable & Sendable>: PostgresEncodable, PostgresDecodable, Sendable {
    public var value: Value
    public init(_ value: Value) { self.value = value }

    public var postgresBind: PostgresBind {
        // Encoding a Codable value to JSON fails only for non-finite floats; those become NULL rather than a crash.
        let bytes = (try? JSONEncoder().encode(value)).map { Array($0) }
        return PostgresBind(oid: PostgresOID.jsonb, bytes: bytes)
    }

    public init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError) {
        do {
            value = try JSONDecoder().decode(Value.self, from: Data(text.utf8))
        } catch {
            throw PostgresDecodingError(expected: "JSON \(Value.self)", oid: oid)
        }
    }
}

/// Arrays of text, integers, booleans and UUIDs, sent as PostgreSQL array literals (`= ANY(\(ids))`).
extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public var postgresBind: PostgresBind {
        // Byte by byte, not Character by Character: a quote followed by a combining mark is one Character
        // (`"\u{301}`), which a Character comparison would leave unescaped, ending the element early.
        var literal: [UInt8] = [UInt8(ascii: "{")]
        for (index, element) in enumerated() {
            if index > 0 { literal.append(UInt8(ascii: ",")) }
            literal.append(UInt8(ascii: "\""))
            for byte in element.postgresArrayElementText {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { literal.append(UInt8(ascii: "\\")) }
                literal.append(byte)
            }
            literal.append(UInt8(ascii: "\""))
        }
        literal.append(UInt8(ascii: "}"))
        return PostgresBind(oid: Element.postgresArrayOID, bytes: literal)
    }
}

public protocol PostgresArrayElement: PostgresEncodable {
    static var postgresArrayOID: UInt32 { get }
    /// The element as text inside an array literal; by default its bind's bytes (which are text).
    var postgresArrayElementText: [UInt8] { get }
}

extension PostgresArrayElement {
    public var postgresArrayElementText: [UInt8] { postgresBind.bytes ?? [] }
}

extension String: PostgresArrayElement { public static var postgresArrayOID: UInt32 { PostgresOID.textArray } }
extension Int: PostgresArrayElement { public static var postgresArrayOID: UInt32 { PostgresOID.int8Array } }
extension Bool: PostgresArrayElement { public static var postgresArrayOID: UInt32 { PostgresOID.boolArray } }
extension UUID: PostgresArrayElement {
    public static var postgresArrayOID: UInt32 { PostgresOID.uuidArray }
    // Its bind is binary; an array literal wants its text.
    public var postgresArrayElementText: [UInt8] { postgresText }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText text: String, oid: UInt32) throws(PostgresDecodingError) {
        self = .some(try Wrapped(postgresText: text, oid: oid))
    }
    public init(postgresBytes bytes: UnsafeRawBufferPointer, oid: UInt32) throws(PostgresDecodingError) {
        self = .some(try Wrapped(postgresBytes: bytes, oid: oid))
    }
}
