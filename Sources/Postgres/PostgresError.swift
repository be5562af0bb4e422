import Foundation

/// An error from the PostgreSQL client. `description` names the kind and the SQLSTATE only, so it can
/// be logged or shown anywhere; the server's message, redacted of secrets, is in `debugDescription`.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case connectionFailed, authenticationFailed, connectionLost, timeout, poolTimeout, shutDown
            case server, commitOutcomeUnknown, invalidBind, decoding, invalidConfiguration
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No server could be reached (refused, unresolvable, no writable host, connect timeout).
        public static let connectionFailed = Code(.connectionFailed)
        /// The server refused the credentials.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The connection broke during the call; the statement may or may not have run.
        public static let connectionLost = Code(.connectionLost)
        /// No answer within the query timeout; the connection was closed.
        public static let timeout = Code(.timeout)
        /// No pooled connection was free within the checkout timeout.
        public static let poolTimeout = Code(.poolTimeout)
        /// The client has shut down.
        public static let shutDown = Code(.shutDown)
        /// The server answered with an error; see `sqlState`.
        public static let server = Code(.server)
        /// The connection broke while COMMIT was in flight: the transaction may or may not have committed.
        public static let commitOutcomeUnknown = Code(.commitOutcomeUnknown)
        /// A bind value cannot be sent (a text value with a NUL byte).
        public static let invalidBind = Code(.invalidBind)
        /// A column could not be decoded as the requested type.
        public static let decoding = Code(.decoding)
        /// The connection string or configuration is invalid.
        public static let invalidConfiguration = Code(.invalidConfiguration)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The five-character SQLSTATE, when the server sent one (e.g. "23505" for a unique violation).
    public var sqlState: String?
    /// The constraint the server named, for integrity violations.
    public var constraint: String?
    /// Details for debugging: the server's or libpq's message, with anything secret-looking removed.
    public var message: String

    public init(code: Code, sqlState: String? = nil, constraint: String? = nil, message: String = "") {
        self.code = code
        self.sqlState = sqlState
        self.constraint = constraint
        self.message = Redaction.redact(message)
    }

    /// True when the cause is the connection or the server's availability, not the statement:
    /// a caller may answer "unavailable, retry later".
    public var isUnavailable: Bool {
        switch code {
        case .connectionFailed, .connectionLost, .timeout, .poolTimeout, .shutDown, .commitOutcomeUnknown: true
        case .server: sqlState.map { $0.hasPrefix("08") || $0.hasPrefix("57P") || $0 == "25006" } ?? false
        default: false
        }
    }

    /// True for a server error that says "not now" rather than "never": a serialization failure or
    /// deadlock (the transaction was rolled back) or a lack of resources (class 53: disk full, out of
    /// memory, too many connections). Running the same statement again later may succeed.
    public var isTransient: Bool {
        guard code == .server, let sqlState else { return false }
        return sqlState == Self.serializationFailure || sqlState == Self.deadlockDetected || sqlState.hasPrefix("53")
    }

    public var description: String {
        var text = "PostgresError(\(code)"
        if let sqlState { text += ", sqlState: \(sqlState)" }
        if let constraint { text += ", constraint: \(constraint)" }
        return text + ")"
    }

    public var debugDescription: String {
        message.isEmpty ? description : "\(description): \(message)"
    }
}

extension PostgresError {
    public static let uniqueViolation = "23505"
    public static let serializationFailure = "40001"
    public static let deadlockDetected = "40P01"
    public static let insufficientPrivilege = "42501"
    public static let queryCanceled = "57014"
    public static let readOnlyTransaction = "25006"
    public static let undefinedTable = "42P01"
    public static let undefinedColumn = "42703"
}

/// Removes values that could be secrets from text that came from libpq or the server:
/// `password=...` pairs and connection URIs (which may carry credentials).
enum Redaction {
    static func redact(_ text: String) -> String {
        guard text.range(of: "password", options: .caseInsensitive) != nil || text.contains("://") else { return text }
        return text.split(separator: " ", omittingEmptySubsequences: false).map { word -> Substring in
            if let range = word.range(of: "password=", options: .caseInsensitive) {
                return word[..<range.upperBound] + "[redacted]"
            }
            if word.contains("://") && word.contains("@") { return "[redacted URI]" }
            return word
        }.joined(separator: " ")
    }
}
