import Foundation

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
}

extension String: RedisArgument { public var redisBytes: [UInt8] { Array(utf8) } }
extension Substring: RedisArgument { public var redisBytes: [UInt8] { Array(utf8) } }
extension Int: RedisArgument { public var redisBytes: [UInt8] { Array(String(self).utf8) } }
extension Array: RedisArgument where Element == UInt8 { public var redisBytes: [UInt8] { self } }
extension Data: RedisArgument { public var redisBytes: [UInt8] { Array(self) } }

/// One command with its arguments: `RedisCommand("SET", key, value, "PX", 5000)`.
public struct RedisCommand: Sendable, Hashable {
    public var arguments: [[UInt8]]

    public init(_ name: String, _ arguments: any RedisArgument...) {
        self.init(name, arguments: arguments)
    }

    public init(_ name: String, arguments: [any RedisArgument]) {
        self.arguments = [Array(name.utf8)] + arguments.map(\.redisBytes)
    }

    public var name: String { String(decoding: arguments.first ?? [], as: UTF8.self) }
}
