import Foundation
import JWTKit
import Synchronization

/// Verifies `Authorization: Bearer <JWT>` headers: asymmetric keys only (EdDSA with Ed25519, or ES256),
/// from a JWKS whose every key names its `kid` (several at once, for rotation). A token must name a known
/// `kid` and that key's algorithm, be signed by it, come from the configured issuer for the configured
/// audience, and be within its `nbf` and `exp` (give or take `leeway`). Its `sub` is who acts; its `scope`
/// (space-separated, RFC 8693) what it may do.
///
/// A verified token is remembered until it expires (at most `cacheLimit` of them): connections are
/// long-lived and send the same token again and again, and a signature check per request would cost
/// more than the request.
public final class TokenVerifier: Sendable {
    public struct Configuration: Sendable {
        /// The JWKS document (`{"keys": [...]}`), its text.
        public var keySet: String
        public var issuer: String
        public var audience: String
        /// Allowed clock skew for `exp` and `nbf`. Default 60 s.
        public var leeway: Duration = .seconds(60)
        /// Verified tokens remembered at most. Default 10,000.
        public var cacheLimit = 10_000

        public init(keySet: String, issuer: String, audience: String) {
            self.keySet = keySet
            self.issuer = issuer
            self.audience = audience
        }
    }

    private let keys: JWTKeyCollection
    /// kid -> the `alg` its key verifies.
    private let algorithms: [String: String]
    private let issuer: String
    private let audience: String
    private let leeway: TimeInterval
    private let cacheLimit: Int
    private let verified = Mutex<[String: Identity]>([:])

    /// The key ids of the key set, sorted (for the startup log line).
    public var keyIDs: [String] { algorithms.keys.sorted() }

    public init(configuration: Configuration) async throws(AuthenticationError) {
        let set: JWKS
        let described: KeySet
        do {
            set = try JSONDecoder().decode(JWKS.self, from: Data(configuration.keySet.utf8))
            described = try JSONDecoder().decode(KeySet.self, from: Data(configuration.keySet.utf8))
        } catch {
            throw .configuration("the key set is not a JWKS document ({\"keys\": [...]}) of EdDSA or ES256 keys")
        }
        guard !set.keys.isEmpty, set.keys.count == described.keys.count else { throw .configuration("the key set holds no key") }
        let collection = JWTKeyCollection()
        var algorithms: [String: String] = [:]
        for (key, description) in zip(set.keys, described.keys) {
            guard let kid = description.kid, !kid.isEmpty else {
                throw .configuration("every key of the key set needs a kid (tokens name the key that signed them)")
            }
            let name = "key \"\(kid.prefix(64))\""
            guard algorithms[kid] == nil else { throw .configuration("\(name) is in the key set twice") }
            let algorithm: String
            switch (description.kty, description.crv) {
            case ("OKP", "Ed25519"): algorithm = "EdDSA"
            case ("EC", "P-256"): algorithm = "ES256"
            default: throw .configuration("\(name): only Ed25519 (EdDSA) and P-256 (ES256) public keys are accepted")
            }
            if let declared = description.alg, declared != algorithm {
                throw .configuration("\(name): its alg \(declared.prefix(16)) does not fit its curve")
            }
            guard description.d == nil else { throw .configuration("\(name) is a private key; give the service public keys only") }
            do {
                _ = try await collection.add(jwk: key)
            } catch {
                throw .configuration("\(name) cannot be read")
            }
            algorithms[kid] = algorithm
        }
        keys = collection
        self.algorithms = algorithms
        issuer = configuration.issuer
        audience = configuration.audience
        leeway = TimeInterval(configuration.leeway.components.seconds)
        cacheLimit = configuration.cacheLimit
    }

    /// Who sent the request, if its `Authorization` header holds a token this verifier accepts and that
    /// grants `scope`.
    public func identity(authorization: String?, requiring scope: String, now: Date = Date()) async throws(AuthenticationError) -> Identity {
        guard let authorization, !authorization.isEmpty else { throw .missing }
        let token = try Self.bearerToken(authorization)
        let identity: Identity
        if let known = verified.withLock({ $0[token] }), known.expires.timeIntervalSince(now) > -leeway {
            identity = known
        } else {
            identity = try await verify(token, now: now)
            remember(token, identity, now: now)
        }
        guard identity.scopes.contains(scope) else { throw .insufficientScope(scope) }
        return identity
    }

    /// The token of `Bearer <token>` (RFC 6750: the scheme is case-insensitive, one space or more).
    ///
    /// On the bytes, without Foundation: it runs for every request, and a version with `split`,
    /// `lowercased` and `trimmingCharacters` took 17% of query-api's CPU for cached reads.
    static func bearerToken(_ authorization: String) throws(AuthenticationError) -> String {
        let bytes = authorization.utf8
        guard bytes.count <= 8192 else { throw .invalid("the token is too long") }
        let scheme = "bearer".utf8
        var rest = bytes[...]
        // The scheme, any case, then at least one space.
        guard rest.count > scheme.count, zip(rest.prefix(scheme.count), scheme).allSatisfy({ $0 | 0x20 == $1 }),
            rest.dropFirst(scheme.count).first == UInt8(ascii: " ")
        else { throw .invalid("expected the Bearer scheme") }
        rest = rest.dropFirst(scheme.count)
        while let first = rest.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { rest = rest.dropFirst() }
        while let last = rest.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { rest = rest.dropLast() }
        // token68 of RFC 9110: base64url and the JWS dots.
        guard !rest.isEmpty,
            rest.allSatisfy({ byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "=")
            })
        else { throw .invalid("the token is not a JWT") }
        return String(Substring(rest))
    }

    private func verify(_ token: String, now: Date) async throws(AuthenticationError) -> Identity {
        let header = try Self.header(of: token)
        guard let kid = header.kid else { throw .invalid("the token names no key (kid)") }
        guard let algorithm = algorithms[kid] else { throw .invalid("the token's key is not known") }
        guard header.alg == algorithm else { throw .invalid("the token's algorithm is not its key's") }
        let claims: Claims
        do {
            claims = try await keys.verify(token, as: Claims.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .invalid("the signature does not verify")
        } catch {
            throw .invalid("the token cannot be read")
        }
        guard claims.iss?.value == issuer else { throw .invalid("the token is from another issuer") }
        guard claims.aud?.value.contains(audience) == true else { throw .invalid("the token is for another audience") }
        guard let expires = claims.exp?.value else { throw .invalid("the token has no expiry (exp)") }
        guard expires.timeIntervalSince(now) > -leeway else { throw .invalid("the token has expired") }
        if let notBefore = claims.nbf?.value, notBefore.timeIntervalSince(now) > leeway {
            throw .invalid("the token is not valid yet")
        }
        guard let subject = claims.sub?.value, !subject.isEmpty, subject.utf8.count <= 256 else {
            throw .invalid("the token names no subject (sub)")
        }
        return Identity(subject: subject, scopes: Set(claims.scope?.split(separator: " ").map(String.init) ?? []), expires: expires)
    }

    /// The protected header, read before verifying so that a token can only name a key and algorithm the
    /// key set has (no `alg: none`, no HS256 with a public key as its secret, no default key).
    private static func header(of token: String) throws(AuthenticationError) -> Header {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Data(base64URL: parts[0]),
            let header = try? JSONDecoder().decode(Header.self, from: data)
        else { throw .invalid("the token is not a JWT") }
        return header
    }

    private func remember(_ token: String, _ identity: Identity, now: Date) {
        verified.withLock { verified in
            if verified.count >= cacheLimit {
                verified = verified.filter { $0.value.expires.timeIntervalSince(now) > -leeway }
                if verified.count >= cacheLimit { verified.removeAll(keepingCapacity: true) }
            }
            verified[token] = identity
        }
    }

    /// What the checks of a key set read of each key (JWTKit's JWK does not expose all of it).
    private struct KeySet: Decodable {
        struct Key: Decodable {
            var kty: String?
            var crv: String?
            var kid: String?
            var alg: String?
            var d: String?
        }
        var keys: [Key]
    }

    private struct Header: Decodable {
        var alg: String?
        var kid: String?
    }

    struct Claims: JWTPayload {
        var iss: IssuerClaim?
        var aud: AudienceClaim?
        var sub: SubjectClaim?
        var exp: ExpirationClaim?
        var nbf: NotBeforeClaim?
        var scope: String?

        // The claims are checked by the verifier, against its clock and leeway.
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}

/// Who a verified token says sent the request, and what it may do.
public struct Identity: Sendable, Equatable {
    public var subject: String
    public var scopes: Set<String>
    public var expires: Date

    public init(subject: String, scopes: Set<String>, expires: Date) {
        self.subject = subject
        self.scopes = scopes
        self.expires = expires
    }
}

/// Why a request is not let through. The descriptions never quote the token.
public enum AuthenticationError: Error, Equatable, CustomStringConvertible {
    /// No `Authorization` header.
    case missing
    /// A token this service does not accept, and why (said to the client).
    case invalid(String)
    /// A valid token without the scope the operation needs.
    case insufficientScope(String)
    /// The verifier's configuration cannot be used (at startup).
    case configuration(String)

    public var description: String {
        switch self {
        case .missing: "no credentials"
        case .invalid(let reason): "invalid token: \(reason)"
        case .insufficientScope(let scope): "the token lacks the scope \(scope)"
        case .configuration(let reason): "authentication configuration: \(reason)"
        }
    }
}

extension Data {
    /// base64url without padding (RFC 7515), as JWS uses it.
    init?(base64URL text: Substring) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64.append("=") }
        self.init(base64Encoded: base64)
    }
}
