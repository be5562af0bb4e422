import Foundation

/// How a service's flags and environment choose its verifier: `required` needs the key set
/// (`--auth-keys` / CATALOG_AUTH_KEYS, a JWKS file), the issuer and the audience; `off` lets every request
/// through, and where `offOnLoopbackOnly` (writes) only on a loopback address (development on one machine).
public enum AuthSettings {
    public enum Mode: String, Sendable {
        case required, off
    }

    /// The verifier the settings ask for, nil when `off`. Errors say which flag or variable to give.
    public static func verifier(
        mode text: String,
        modeFlag: String,
        keysPath: String?,
        issuer: String?,
        audience: String?,
        host: String,
        offOnLoopbackOnly: Bool = true
    ) async throws(AuthenticationError) -> TokenVerifier? {
        guard let mode = Mode(rawValue: text) else { throw .configuration("\(modeFlag) takes required or off") }
        switch mode {
        case .off:
            guard !offOnLoopbackOnly || isLoopback(host) else {
                throw .configuration("\(modeFlag) off is for development on a loopback address only, not \(host)")
            }
            return nil
        case .required:
            guard let keysPath, !keysPath.isEmpty else {
                throw .configuration(
                    "give --auth-keys or set CATALOG_AUTH_KEYS (a JWKS file, a PEM public key, or a directory of <kid>.pem), or \(modeFlag) off"
                )
            }
            guard let issuer, !issuer.isEmpty else { throw .configuration("give --auth-issuer or set CATALOG_AUTH_ISSUER") }
            guard let audience, !audience.isEmpty else { throw .configuration("give --auth-audience or set CATALOG_AUTH_AUDIENCE") }
            // A JWKS file; or public keys in PEM: one file (its kid is its name) or a directory of <kid>.pem.
            let text: String
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: keysPath, isDirectory: &isDirectory), isDirectory.boolValue {
                text = try PEMKeySet.jwks(at: keysPath)
            } else {
                do {
                    text = try String(contentsOfFile: keysPath, encoding: .utf8)
                } catch {
                    throw .configuration("cannot read the key set \(keysPath)")
                }
                if text.contains("-----BEGIN") { return try await verifier(jwks: try PEMKeySet.jwks(at: keysPath), issuer, audience) }
            }
            return try await verifier(jwks: text, issuer, audience)
        }
    }

    private static func verifier(jwks: String, _ issuer: String, _ audience: String) async throws(AuthenticationError) -> TokenVerifier {
        try await TokenVerifier(configuration: .init(keySet: jwks, issuer: issuer, audience: audience))
    }

    /// 127.0.0.0/8, ::1 or localhost.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}

/// The scopes the catalog's operations need.
public enum Scopes {
    /// Every command of command-api.
    public static let write = "catalog:write"
    /// query-api's album reads, with `--read-auth required`.
    public static let read = "catalog:read"
}
