import ArgumentParser
import Foundation

/// The token flags both HTTP services take, and the verifier they ask for; each falls back to its
/// environment variable.
public struct AuthOptions: ParsableArguments {
    @Option(name: .long, help: "JWKS file of the public keys that sign tokens (env CATALOG_AUTH_KEYS).")
    public var authKeys: String?

    @Option(name: .long, help: "The issuer (iss) tokens must have (env CATALOG_AUTH_ISSUER).")
    public var authIssuer: String?

    @Option(name: .long, help: "The audience (aud) tokens must name (env CATALOG_AUTH_AUDIENCE).")
    public var authAudience: String?

    public init() {}

    /// The verifier `mode` (required or off) asks for, nil when off; a usage error saying what is missing.
    public func verifier(mode: String, modeFlag: String, host: String, offOnLoopbackOnly: Bool) async throws -> TokenVerifier? {
        let environment = ProcessInfo.processInfo.environment
        do {
            return try await AuthSettings.verifier(
                mode: mode,
                modeFlag: modeFlag,
                keysPath: authKeys ?? environment["CATALOG_AUTH_KEYS"],
                issuer: authIssuer ?? environment["CATALOG_AUTH_ISSUER"],
                audience: authAudience ?? environment["CATALOG_AUTH_AUDIENCE"],
                host: host,
                offOnLoopbackOnly: offOnLoopbackOnly
            )
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
