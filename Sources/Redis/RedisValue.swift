import Foundation
import NIOCore

/// A reply from Redis. Bulk strings are bytes, so binary values round-trip unchanged.
public enum RedisValue: Sendable, Hashable {
    case null
    case integer(Int)
    case bulk([UInt8])
    case status(String)
    case error(String)
    case array([RedisValue])

    /// Bulk or status text as UTF-8; nil for other replies.
    public var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    public var bytes: [UInt8]? {
        if case .bulk(let bytes) = self { return bytes }
        return nil
    }

    public var integer: Int? {
        switch self {
        case .integer(let value): value
        case .bulk(let bytes): Int(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var isNull: Bool { self == .null }
}

/// Something that can be one argument of a command, as bytes.
public protocol RedisArgument: Sendable {
    var redisBytes: [UInt8] { get }
    /// Appends the argument as a RESP bulk string (`$<length>\r\n<bytes>\r\n`); by default, `redisBytes`.
    func appendRedisBulkString(to bytes: inout [UInt8])
}

extension RedisArgument {
    public func appendRedisBulkString(to bytes: inout [UInt8]) {
        RESP.appendBulkString(redisBytes, to: &bytes)
    }
}

extension String: RedisArgument {
    public var redisBytes: [UInt8] { Array(utf8) }
    public func appendRedisBulkString(to bytes: inout [UInt8]) { RESP.appendBulkString(utf8, to: &bytes) }
}
extension Substring: RedisArgument {
    public var redisBytes: [UInt8] { Array(utf8) }
    public func appendRedisBulkString(to bytes: inout [UInt8]) { RESP.appendBulkString(utf8, to: &bytes) }
}
extension Int: RedisArgument {
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
    public func appendRedisBulkString(to bytes: inout [UInt8]) {
        RESP.withDecimal(self) { digits in RESP.appendBulkString(digits, to: &bytes) }
    }
}
extension Array: RedisArgument where Element == UInt8 { public var redisBytes: [UInt8] { self } }
extension Data: RedisArgument { public var redisBytes: [UInt8] { Array(self) } }
extension ByteBuffer: RedisArgument {
    public var redisBytes: [UInt8] { Array(readableBytesView) }
    public func appendRedisBulkString(to bytes: inout [UInt8]) { RESP.appendBulkString(readableBytesView, to: &bytes) }
}

/// One command with its arguments: `RedisCommand("SET", key, value, "PX", 5000)`. Encoded when made, in
/// one array: writing it is one copy, whatever its number of arguments.
public struct RedisCommand: Sendable, Hashable {
    /// The command in RESP, an array of bulk strings.
    public let encoded: [UInt8]

    public init(_ name: String, _ arguments: any RedisArgument...) {
        self.init(name, arguments: arguments)
    }

    public init(_ name: String, arguments: [any RedisArgument]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128)
        bytes.append(UInt8(ascii: "*"))
        RESP.withDecimal(arguments.count + 1) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\r"), UInt8(ascii: "\n")])
        name.appendRedisBulkString(to: &bytes)
        for argument in arguments { argument.appendRedisBulkString(to: &bytes) }
        encoded = bytes
    }

    /// The name and arguments, read back from the encoding.
    public var arguments: [[UInt8]] { RESP.bulkStrings(of: encoded) }

    public var name: String { String(decoding: arguments.first ?? [], as: UTF8.self) }
}
