import Foundation

extension RedisClient {
    public struct Configuration: Sendable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var username: String?
        public var password: String?
        public var database: Int
        /// Connections, spread over the event loops; each carries many commands at once (pipelined).
        /// Default (nil): one per event loop.
        public var poolSize: Int?
        /// For the TCP connect. The handshake after it (AUTH, SELECT) gets the longer of this and
        /// `commandTimeout`. Default 1 s.
        public var connectTimeout: Duration = .seconds(1)
        /// For each command or pipeline round trip. Default 1 s.
        public var commandTimeout: Duration = .seconds(1)

        public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
        }

        /// Parses `redis://[[username]:password@]host[:port][/db]`. The error never quotes the URL.
        public init(url: String) throws(RedisError) {
            guard let components = URLComponents(string: url), components.scheme == "redis",
                let host = components.host, !host.isEmpty
            else {
                throw RedisError(code: .invalidConfiguration, message: "expected redis://[:password@]host[:port][/db]")
            }
            let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            guard path.isEmpty || Int(path).map({ $0 >= 0 }) == true else {
                throw RedisError(code: .invalidConfiguration, message: "the database must be a number")
            }
            guard (components.port ?? 6379) > 0, (components.port ?? 6379) < 65536 else {
                throw RedisError(code: .invalidConfiguration, message: "the port is out of range")
            }
            let user = components.percentEncodedUser?.removingPercentEncoding
            self.init(
                host: host,
                port: components.port ?? 6379,
                username: user?.isEmpty == false ? user : nil,
                password: components.percentEncodedPassword?.removingPercentEncoding,
                database: Int(path) ?? 0
            )
        }

        /// The address without credentials, safe to log.
        public var description: String {
            "redis://\(password == nil ? "" : ":[redacted]@")\(host):\(port)/\(database)"
        }
    }
}
