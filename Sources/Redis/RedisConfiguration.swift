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
        /// TLS (a `rediss://` URL); nil: plaintext.
        public var tls: TLS?

        /// How the client speaks TLS: it always verifies the server's certificate and that it names
        /// `host` (an IP address or a DNS name), against `caFile` or else the system's roots; with a
        /// certificate and key it also identifies itself (for a Redis with `tls-auth-clients yes`).
        public struct TLS: Sendable, Equatable {
            /// PEM file of the CA certificates to trust (`ssl_ca_certs` in the URL).
            public var caFile: String?
            /// PEM files of the client's certificate and private key (`ssl_certfile`, `ssl_keyfile`).
            public var certificateFile: String?
            public var keyFile: String?

            public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
                self.caFile = caFile
                self.certificateFile = certificateFile
                self.keyFile = keyFile
            }
        }

        public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
        }

        /// Parses `redis://[[username]:password@]host[:port][/db]`, or `rediss://` for TLS with the
        /// query parameters `ssl_ca_certs`, `ssl_certfile` and `ssl_keyfile` (file paths, as redis-py names
        /// them). The error never quotes the URL.
        public init(url: String) throws(RedisError) {
            guard let components = URLComponents(string: url), components.scheme == "redis" || components.scheme == "rediss",
                let host = components.host, !host.isEmpty
            else {
                throw RedisError(code: .invalidConfiguration, message: "expected redis[s]://[[user]:password@]host[:port][/db]")
            }
            var tls: TLS?
            if components.scheme == "rediss" {
                var settings = TLS()
                for item in components.queryItems ?? [] {
                    guard let value = item.value, !value.isEmpty else {
                        throw RedisError(code: .invalidConfiguration, message: "the URL's \(item.name) has no value")
                    }
                    switch item.name {
                    case "ssl_ca_certs": settings.caFile = value
                    case "ssl_certfile": settings.certificateFile = value
                    case "ssl_keyfile": settings.keyFile = value
                    default: throw RedisError(code: .invalidConfiguration, message: "unknown URL parameter \(item.name)")
                    }
                }
                guard (settings.certificateFile == nil) == (settings.keyFile == nil) else {
                    throw RedisError(code: .invalidConfiguration, message: "ssl_certfile and ssl_keyfile go together")
                }
                tls = settings
            } else if components.query != nil {
                throw RedisError(code: .invalidConfiguration, message: "a redis:// URL takes no parameters (TLS: rediss://)")
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
            self.tls = tls
        }

        /// The address without credentials, safe to log.
        public var description: String {
            "\(tls == nil ? "redis" : "rediss")://\(password == nil ? "" : ":[redacted]@")\(host):\(port)/\(database)"
        }
    }
}
