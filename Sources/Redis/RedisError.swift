/// An error from the Redis client. `description` never includes the password, the URL or a value;
/// the server's error text is in `debugDescription`.
public struct RedisError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case connectionFailed, authenticationFailed, connectionLost, timeout, shutDown
            case server, invalidConfiguration
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Redis could not be reached (refused, unresolvable, connect timeout).
        public static let connectionFailed = Code(.connectionFailed)
        /// AUTH was refused: wrong or missing password.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The connection broke during the call; the command may or may not have run.
        public static let connectionLost = Code(.connectionLost)
        /// No answer within the command timeout; the connection was closed.
        public static let timeout = Code(.timeout)
        /// The client has shut down.
        public static let shutDown = Code(.shutDown)
        /// Redis answered with an error reply; `kind` holds its first word (WRONGTYPE, NOSCRIPT, ...).
        public static let server = Code(.server)
        /// The URL or configuration is invalid.
        public static let invalidConfiguration = Code(.invalidConfiguration)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// For `.server`: the error's first word, e.g. "WRONGTYPE".
    public var kind: String?
    public var message: String

    public init(code: Code, kind: String? = nil, message: String = "") {
        self.code = code
        self.kind = kind
        self.message = message
    }

    /// True when the cause is Redis's availability, not the command.
    public var isUnavailable: Bool {
        switch code {
        case .connectionFailed, .connectionLost, .timeout, .shutDown: true
        default: false
        }
    }

    public var description: String {
        "RedisError(\(code)" + (kind.map { ", kind: \($0)" } ?? "") + ")"
    }

    public var debugDescription: String {
        message.isEmpty ? description : "\(description): \(message)"
    }
}
