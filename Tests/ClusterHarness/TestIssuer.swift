import Crypto
import Foundation

/// A token issuer for tests: its own keys (Ed25519 or P-256, by kid), their public JWKS for a service's
/// verifier, and tokens built here by the letter of RFC 7515/7519 (not by the library that verifies
/// them), including the broken and hostile ones a verifier must refuse.
public struct TestIssuer: Sendable {
    public enum Key: Sendable {
        case ed25519(Curve25519.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
    }

    public let keys: [(kid: String, key: Key)]
    public let issuer: String
    public let audience: String

    public init(ed25519 kids: [String] = ["k1"], p256: [String] = [], issuer: String = "test-issuer", audience: String = "catalog-test") {
        keys = kids.map { ($0, Key.ed25519(.init())) } + p256.map { ($0, Key.p256(.init())) }
        self.issuer = issuer
        self.audience = audience
    }

    /// The public keys, as a JWKS document.
    public var jwks: String {
        let entries: [String] = keys.map { kid, key in
            switch key {
            case .ed25519(let key):
                return #"{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"\#(kid)","x":"\#(Self.base64URL(key.publicKey.rawRepresentation))"}"#
            case .p256(let key):
                // x963: 0x04, then x and y (32 bytes each).
                let point = key.publicKey.x963Representation
                let x = Self.base64URL(point.dropFirst().prefix(32))
                let y = Self.base64URL(point.suffix(32))
                return #"{"kty":"EC","crv":"P-256","alg":"ES256","kid":"\#(kid)","x":"\#(x)","y":"\#(y)"}"#
            }
        }
        return #"{"keys":[\#(entries.joined(separator: ","))]}"#
    }

    /// A signed token. Every claim can be changed or left out (nil) to build a broken one.
    public func token(
        subject: String? = "alice",
        scope: String? = "catalog:write catalog:read",
        kid: String? = nil,
        issuer: String?? = .none,
        audience: String?? = .none,
        expires: Date? = Date().addingTimeInterval(3600),
        notBefore: Date? = nil
    ) -> String {
        let kid = kid ?? keys[0].kid
        var claims: [String: Any] = [:]
        if let subject { claims["sub"] = subject }
        if let scope { claims["scope"] = scope }
        if let value = issuer ?? self.issuer { claims["iss"] = value }
        if let value = audience ?? self.audience { claims["aud"] = value }
        if let expires { claims["exp"] = Int(expires.timeIntervalSince1970) }
        if let notBefore { claims["nbf"] = Int(notBefore.timeIntervalSince1970) }
        claims["iat"] = Int(Date().timeIntervalSince1970)
        let key = keys.first { $0.kid == kid }?.key ?? keys[0].key
        let algorithm = if case .p256 = key { "ES256" } else { "EdDSA" }
        return sign(header: ["alg": algorithm, "typ": "JWT", "kid": kid], claims: claims, with: key)
    }

    /// A token with this header and these claims, signed with `key` (the first key by default).
    public func sign(header: [String: Any], claims: [String: Any], with key: Key? = nil) -> String {
        let input = Self.encode(header) + "." + Self.encode(claims)
        let signature: Data
        switch key ?? keys[0].key {
        case .ed25519(let key): signature = (try? key.signature(for: Data(input.utf8))) ?? Data()
        case .p256(let key): signature = (try? key.signature(for: Data(input.utf8)).rawRepresentation) ?? Data()
        }
        return input + "." + Self.base64URL(signature)
    }

    /// The HS256 token of `claims` whose HMAC secret is the first key's public key, as a verifier that
    /// let the token choose its algorithm would check it ("key confusion").
    public func hs256WithThePublicKey(claims: [String: Any]) -> String {
        let input = Self.encode(["alg": "HS256", "typ": "JWT", "kid": keys[0].kid]) + "." + Self.encode(claims)
        let secret: Data
        switch keys[0].key {
        case .ed25519(let key): secret = key.publicKey.rawRepresentation
        case .p256(let key): secret = key.publicKey.x963Representation
        }
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: secret))
        return input + "." + Self.base64URL(Data(mac))
    }

    /// The claims of a valid token, for building broken ones.
    public func claims(subject: String = "alice", scope: String = "catalog:write catalog:read") -> [String: Any] {
        ["iss": issuer, "aud": audience, "sub": subject, "scope": scope, "exp": Int(Date().timeIntervalSince1970) + 3600]
    }

    public static func encode(_ object: [String: Any]) -> String {
        base64URL((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    public static func base64URL(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
