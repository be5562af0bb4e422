import ArgumentParser
import Foundation

/// Secure links by default: a service refuses to start with a database or Redis link that is not TLS
/// verifying the server, unless it was told `--plaintext-loopback` (CATALOG_PLAINTEXT_LOOPBACK=1) and the
/// link stays on this machine. Plaintext is for development on one machine; between hosts anyone on the
/// path could read and change every query, password exchange and cached view.
public struct PlaintextPolicy: Sendable {
    public var allowedOnLoopback: Bool

    public init(allowedOnLoopback: Bool) {
        self.allowedOnLoopback = allowedOnLoopback
    }

    /// From the flag, else CATALOG_PLAINTEXT_LOOPBACK (1, true or yes).
    public init(flag: Bool) {
        let variable = ProcessInfo.processInfo.environment["CATALOG_PLAINTEXT_LOOPBACK"]?.lowercased()
        self.init(allowedOnLoopback: flag || ["1", "true", "yes"].contains(variable ?? ""))
    }

    /// Checks one link: `secure` when it is TLS that verifies the server (nil: the setting does not parse,
    /// which its client reports); `hosts` it reaches. A usage error (exit 2) names the setting, never its value.
    public func check(_ setting: String, secure: Bool?, hosts: [String]) throws {
        guard let secure, !secure else { return }
        guard allowedOnLoopback else {
            throw ValidationError(
                "\(setting) is not TLS that verifies the server (PostgreSQL: sslmode=verify-full with sslrootcert; Redis: rediss://); "
                    + "for development on one machine only, give --plaintext-loopback"
            )
        }
        guard hosts.allSatisfy(Self.isLocal) else {
            throw ValidationError("\(setting) leaves this machine without TLS: --plaintext-loopback allows plaintext to loopback addresses only")
        }
    }

    /// A loopback address, localhost, or a Unix socket's directory.
    public static func isLocal(_ host: String) -> Bool {
        host.hasPrefix("/") || host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
