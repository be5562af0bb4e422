import CLibPQ
import Foundation

/// How a connection string protects its link: whether libpq will verify the server over TLS
/// (`sslmode=verify-full` or `verify-ca`, from the string or else $PGSSLMODE), and the hosts it names.
public struct PostgresTransport: Sendable, Equatable {
    /// The sslmode libpq will use.
    public var sslMode: String
    /// Every `host` and `hostaddr` named (a path is a Unix socket).
    public var hosts: [String]

    /// TLS with the server's certificate checked against a CA (and with verify-full its name).
    public var verifiesServer: Bool { sslMode == "verify-full" || sslMode == "verify-ca" }

    /// Parsed by libpq itself; nil when it cannot be parsed (the error never quotes it).
    public init?(connectionString: String) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            return nil
        }
        defer { PQconninfoFree(options) }
        var values: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { values[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        sslMode = values["sslmode"] ?? ProcessInfo.processInfo.environment["PGSSLMODE"] ?? "prefer"
        let named = [values["host"], values["hostaddr"]].compactMap { $0 }.flatMap { $0.split(separator: ",").map(String.init) }
        hosts = named.isEmpty ? [ProcessInfo.processInfo.environment["PGHOST"] ?? "localhost"] : named
    }
}
