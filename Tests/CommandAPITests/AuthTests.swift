import Authentication
import ClusterHarness
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CommandAPI

/// Every command needs a bearer token with catalog:write (RFC 6750): the token matrix, each answer
/// exactly, on the service built as `command-api` builds it with a verifier of the test issuer's keys.
@Suite(Cluster.needed) struct CommandAuthTests {
    static func verifier(_ issuer: TestIssuer) async throws -> TokenVerifier {
        try await TokenVerifier(configuration: .init(keySet: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience))
    }

    @Test func everyBrokenOrHostileTokenIsRefusedWithItsOwnAnswer() async throws {
        let issuer = TestIssuer(ed25519: ["k1"], p256: ["p1"])
        let stranger = TestIssuer(ed25519: ["k1"])
        let now = Date()
        var claims = issuer.claims()
        claims["sub"] = "mallory"
        let valid = issuer.token()
        let parts = valid.split(separator: ".").map(String.init)
        // (label, Authorization header or nil, status, WWW-Authenticate must contain)
        let cases: [(String, String?, HTTPResponse.Status, String)] = [
            ("no header", nil, .unauthorized, #"Bearer realm="catalog""#),
            ("empty", "", .unauthorized, #"Bearer realm="catalog""#),
            ("another scheme", "Basic YWxpY2U6c2VjcmV0", .unauthorized, "invalid_token"),
            ("no token", "Bearer ", .unauthorized, "invalid_token"),
            ("not a JWT", "Bearer hello", .unauthorized, "invalid_token"),
            ("malformed", "Bearer a.b.c", .unauthorized, "invalid_token"),
            ("hostile bytes", "Bearer \(valid)';DROP TABLE events", .unauthorized, "invalid_token"),
            ("two tokens", "Bearer \(valid) \(valid)", .unauthorized, "invalid_token"),
            ("oversized", "Bearer " + String(repeating: "a", count: 9000), .unauthorized, "invalid_token"),
            ("expired", "Bearer " + issuer.token(expires: now.addingTimeInterval(-3600)), .unauthorized, "expired"),
            ("not yet valid", "Bearer " + issuer.token(notBefore: now.addingTimeInterval(3600)), .unauthorized, "not valid yet"),
            ("no expiry", "Bearer " + issuer.token(expires: nil), .unauthorized, "no expiry"),
            ("wrong issuer", "Bearer " + issuer.token(issuer: "someone-else"), .unauthorized, "another issuer"),
            ("no issuer", "Bearer " + issuer.token(issuer: .some(nil)), .unauthorized, "another issuer"),
            ("wrong audience", "Bearer " + issuer.token(audience: "another-api"), .unauthorized, "another audience"),
            ("no subject", "Bearer " + issuer.token(subject: nil), .unauthorized, "no subject"),
            ("unknown kid", "Bearer " + issuer.sign(header: ["alg": "EdDSA", "kid": "k9"], claims: issuer.claims()), .unauthorized, "not known"),
            ("no kid", "Bearer " + issuer.sign(header: ["alg": "EdDSA"], claims: issuer.claims()), .unauthorized, "names no key"),
            (
                "alg none", "Bearer " + TestIssuer.encode(["alg": "none", "kid": "k1"]) + "." + TestIssuer.encode(issuer.claims()) + ".",
                .unauthorized, "algorithm"
            ),
            (
                "alg of another key", "Bearer " + issuer.sign(header: ["alg": "ES256", "kid": "k1"], claims: issuer.claims()), .unauthorized,
                "algorithm"
            ),
            ("HS256 with the public key", "Bearer " + issuer.hs256WithThePublicKey(claims: issuer.claims()), .unauthorized, "algorithm"),
            ("signed by another issuer's key", "Bearer " + stranger.token(), .unauthorized, "signature"),
            ("tampered payload", "Bearer \(parts[0]).\(TestIssuer.encode(claims)).\(parts[2])", .unauthorized, "signature"),
            ("no scope", "Bearer " + issuer.token(scope: nil), .forbidden, #"error="insufficient_scope", scope="catalog:write""#),
            ("read scope only", "Bearer " + issuer.token(scope: "catalog:read"), .forbidden, "insufficient_scope"),
            ("a scope that only starts alike", "Bearer " + issuer.token(scope: "catalog:writer"), .forbidden, "insufficient_scope"),
        ]
        try await withCommandAPI(verifier: try await Self.verifier(issuer)) { client in
            for (label, authorization, status, challenge) in cases {
                var headers: HTTPFields = [:]
                if let authorization { headers[.authorization] = authorization }
                let reply = try await client.send(.post, "/albums", json: kindOfBlue, headers: headers)
                #expect(reply.status == status, "\(label): \(reply.status) \(reply.text)")
                #expect(reply.headers[.wwwAuthenticate]?.contains(challenge) == true, "\(label): \(reply.headers[.wwwAuthenticate] ?? "none")")
                #expect(reply.headers[.contentType] == "application/problem+json", "\(label)")
                // Never echoed: not the token, not its parts.
                if let authorization, authorization.count > 12 {
                    #expect(!reply.text.contains(authorization.dropFirst(7).prefix(40)), "\(label) echoes the token")
                }
            }
            // Every command is behind it, not only POST /albums.
            for (method, path) in [
                (HTTPRequest.Method.patch, "/albums/\(UUID())"), (.delete, "/albums/\(UUID())"), (.post, "/albums/\(UUID())/songs"),
                (.patch, "/albums/\(UUID())/songs/\(UUID())"), (.delete, "/albums/\(UUID())/songs/\(UUID())"),
                (.put, "/albums/\(UUID())/track-order"),
            ] {
                #expect(try await client.send(method, path, json: "{}").status == .unauthorized, "\(method) \(path)")
            }
            // Health, the OpenAPI document and metrics stay open.
            for path in ["/health/live", "/health/ready", "/openapi.json", "/metrics"] {
                #expect(try await client.send(.get, path).status == .ok, "\(path)")
            }
        }
    }

    @Test func validTokensOfEveryKeyAndAfterARotationAreLetThrough() async throws {
        let issuer = TestIssuer(ed25519: ["old", "new"], p256: ["ec"])
        try await withCommandAPI(verifier: try await Self.verifier(issuer)) { client in
            for kid in ["old", "new", "ec"] {
                // Twice: the second answer comes from the remembered verification.
                let token = issuer.token(kid: kid)
                for _ in 0..<2 {
                    let reply = try await client.send(.post, "/albums", json: kindOfBlue, headers: [.authorization: "Bearer \(token)"])
                    #expect(reply.status == .created, "\(kid): \(reply.text)")
                }
            }
            // Scheme case and a token within the clock-skew allowance.
            let lowercase = try await client.send(.post, "/albums", json: kindOfBlue, headers: [.authorization: "bearer \(issuer.token())"])
            #expect(lowercase.status == .created, "\(lowercase.text)")
            let skewed = issuer.token(expires: Date().addingTimeInterval(-20), notBefore: Date().addingTimeInterval(20))
            #expect(try await client.send(.post, "/albums", json: kindOfBlue, headers: [.authorization: "Bearer \(skewed)"]).status == .created)
        }
        // After rotation the old key is gone from the key set: its tokens are refused, the new key's pass.
        let rotated = TestIssuer(ed25519: ["new"])
        try await withCommandAPI(verifier: try await Self.verifier(rotated)) { client in
            let old = try await client.send(.post, "/albums", json: kindOfBlue, headers: [.authorization: "Bearer \(issuer.token(kid: "old"))"])
            #expect(old.status == .unauthorized)
            let new = try await client.send(.post, "/albums", json: kindOfBlue, headers: [.authorization: "Bearer \(rotated.token(kid: "new"))"])
            #expect(new.status == .created, "\(new.text)")
        }
    }

    /// `--metrics off` closes /metrics (404, nothing of the registry); health and the document stay open.
    @Test func metricsCanBeClosed() async throws {
        try await withCommandAPI(verifier: try await Self.verifier(TestIssuer(ed25519: ["k1"])), metricsOpen: false) { client in
            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.status == .notFound, "\(metrics.text)")
            #expect(!metrics.text.contains("catalog_postgres_pool"), "\(metrics.text)")
            #expect(try await client.send(.get, "/health/live").status == .ok)
            #expect(try await client.send(.get, "/openapi.json").status == .ok)
        }
        try await withCommandAPI(verifier: try await Self.verifier(TestIssuer(ed25519: ["k1"]))) { client in
            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.status == .ok && metrics.text.contains("catalog_postgres_pool_connections"), "\(metrics.text)")
        }
    }

    /// The audit trail: each command's events carry the subject of its token and its request's id, and a
    /// command's Idempotency-Key is its subject's alone: another subject's retry is refused, not replayed.
    @Test func everyEventSaysWhoCausedItAndAKeyBelongsToItsSubject() async throws {
        let issuer = TestIssuer(ed25519: ["k1"])
        let ada = ["Authorization": "Bearer \(issuer.token(subject: "user:ada"))"]
        let eve = ["Authorization": "Bearer \(issuer.token(subject: "user:eve"))"]
        @Sendable func headers(_ fields: [String: String]) -> HTTPFields {
            var headers = HTTPFields()
            for (name, value) in fields { headers[HTTPField.Name(name)!] = value }
            return headers
        }
        try await withCommandAPI(verifier: try await Self.verifier(issuer)) { client in
            let key = "audit-\(UUID())"
            let created = try await client.send(
                .post,
                "/albums",
                json: kindOfBlue,
                headers: headers(ada.merging(["Request-Id": "ada-create-1", "Idempotency-Key": key]) { $1 })
            )
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.id.flatMap(UUID.init(uuidString:)))
            let changed = try await client.send(.patch, "/albums/\(id)", json: #"{"title":"Kind of Blue (2)"}"#, headers: headers(eve))
            #expect(changed.status == .ok, "\(changed.text)")
            let generatedID = try #require(changed.headers[HTTPField.Name("Request-Id")!])

            // The same request with the same key: ada's retry is answered as the first time; eve's is refused.
            let retry = try await client.send(.post, "/albums", json: kindOfBlue, headers: headers(ada.merging(["Idempotency-Key": key]) { $1 }))
            #expect(retry.status == .created && retry.id == created.id, "\(retry.status) \(retry.text)")
            let stolen = try await client.send(.post, "/albums", json: kindOfBlue, headers: headers(eve.merging(["Idempotency-Key": key]) { $1 }))
            #expect(stolen.status == .unprocessableContent, "\(stolen.text)")
            #expect(stolen.text.contains("another client") && !stolen.text.contains(id.uuidString.lowercased()), "\(stolen.text)")

            let events = try await recordedEvents(id.uuidString)
            let byAda = EventMetadata(subject: "user:ada", requestID: "ada-create-1")
            #expect(events.first?.event.type == "AlbumCreated" && events.last?.event.type == "AlbumDetailsChanged")
            #expect(events.dropLast().allSatisfy { $0.metadata == byAda }, "\(events.map(\.metadata))")
            #expect(events.last?.metadata == EventMetadata(subject: "user:eve", requestID: generatedID))
        }
    }
}

/// The verifier's own rules, without a cluster.
@Suite struct TokenVerifierTests {
    /// Public keys in PEM, as identity providers and `openssl pkey -pubout` give them: a directory of
    /// `<kid>.pem` files (or one file, its name the kid). The P-256 key's PEM is swift-crypto's, the Ed25519
    /// key and its token are openssl's own: neither is made by the code under test.
    @Test func pemPublicKeysAreAKeySetNamedByTheirFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pem-keys-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        func openssl(_ arguments: [String]) throws -> String {
            let run = try ChildProcess.run("/usr/bin/openssl", arguments: arguments, environment: [])
            try #require(run.status == 0, "openssl \(arguments.first ?? ""): \(run.output)")
            return run.output
        }
        let issuer = TestIssuer(ed25519: [], p256: ["ec-1"])
        guard case .p256(let ecKey) = issuer.keys[0].key else { return }
        try ecKey.publicKey.pemRepresentation.write(toFile: path("ec-1.pem"), atomically: true, encoding: .utf8)
        _ = try openssl(["genpkey", "-algorithm", "ed25519", "-out", path("ed.key")])
        _ = try openssl(["pkey", "-in", path("ed.key"), "-pubout", "-out", path("ed-1.pem")])

        let keysDirectory = directory.appendingPathComponent("keys")
        try FileManager.default.createDirectory(at: keysDirectory, withIntermediateDirectories: true)
        for name in ["ec-1.pem", "ed-1.pem"] {
            try FileManager.default.copyItem(atPath: path(name), toPath: keysDirectory.appendingPathComponent(name).path)
        }
        func verifier(_ keys: String) async throws -> TokenVerifier? {
            try await AuthSettings.verifier(
                mode: "required",
                modeFlag: "--write-auth",
                keysPath: keys,
                issuer: issuer.issuer,
                audience: issuer.audience,
                host: "127.0.0.1"
            )
        }
        let both = try #require(try await verifier(keysDirectory.path))
        #expect(both.keyIDs == ["ec-1", "ed-1"])
        #expect(try await both.identity(authorization: "Bearer \(issuer.token(kid: "ec-1"))", requiring: Scopes.write).subject == "alice")

        // An EdDSA token signed by openssl with its own key.
        let input = TestIssuer.encode(["alg": "EdDSA", "typ": "JWT", "kid": "ed-1"]) + "." + TestIssuer.encode(issuer.claims(subject: "openssl"))
        try input.write(toFile: path("input"), atomically: true, encoding: .utf8)
        _ = try openssl(["pkeyutl", "-sign", "-inkey", path("ed.key"), "-rawin", "-in", path("input"), "-out", path("signature")])
        let signature = try Data(contentsOf: URL(fileURLWithPath: path("signature")))
        let edToken = input + "." + TestIssuer.base64URL(signature)
        #expect(try await both.identity(authorization: "Bearer \(edToken)", requiring: Scopes.write).subject == "openssl")

        // One PEM file: its name is the kid, and only its key is known.
        let single = try #require(try await verifier(path("ed-1.pem")))
        #expect(single.keyIDs == ["ed-1"])
        await #expect(throws: AuthenticationError.self) {
            try await single.identity(authorization: "Bearer \(issuer.token(kid: "ec-1"))", requiring: Scopes.write)
        }

        // Refused at start: a private key, an RSA key, a directory without keys.
        _ = try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", path("rsa.key")])
        _ = try openssl(["pkey", "-in", path("rsa.key"), "-pubout", "-out", path("rsa.pem")])
        for (keys, reason) in [
            (path("ed.key"), "private key"), (path("rsa.pem"), "only Ed25519"), (directory.appendingPathComponent("empty").path, ""),
        ] {
            if reason.isEmpty { try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true) }
            let error = await #expect(throws: AuthenticationError.self) { _ = try await verifier(keys) }
            #expect("\(String(describing: error))".contains(reason.isEmpty ? "no <kid>.pem" : reason), "\(String(describing: error))")
        }
    }

    @Test func keySetsWithSymmetricPrivateOrUnnamedKeysAreRefusedAtStart() async throws {
        let issuer = TestIssuer()
        for (label, set) in [
            ("not JSON", "-----BEGIN PUBLIC KEY-----"),
            ("no keys", #"{"keys":[]}"#),
            ("symmetric", #"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#),
            ("RSA", #"{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}"#),
            ("no kid", issuer.jwks.replacingOccurrences(of: #""kid":"k1","#, with: "")),
            ("private", issuer.jwks.replacingOccurrences(of: #""kid":"k1","#, with: #""kid":"k1","d":"AAAA","#)),
            ("alg of another curve", issuer.jwks.replacingOccurrences(of: #""alg":"EdDSA""#, with: #""alg":"ES256""#)),
            ("kid twice", #"{"keys":[\#(String(issuer.jwks.dropFirst(9).dropLast(2))),\#(String(issuer.jwks.dropFirst(9).dropLast(2)))]}"#),
        ] {
            await #expect(throws: AuthenticationError.self, "\(label)") {
                _ = try await TokenVerifier(configuration: .init(keySet: set, issuer: "i", audience: "a"))
            }
        }
    }

    @Test func aRememberedTokenStillExpires() async throws {
        let issuer = TestIssuer()
        let verifier = try await TokenVerifier(configuration: .init(keySet: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience))
        let expires = Date().addingTimeInterval(120)
        let token = issuer.token(expires: expires)
        let identity = try await verifier.identity(authorization: "Bearer \(token)", requiring: Scopes.write)
        #expect(identity.subject == "alice")
        #expect(identity.scopes == ["catalog:write", "catalog:read"])
        // Remembered, and checked against the clock on every use: past exp plus the 60 s leeway it fails.
        let later = expires.addingTimeInterval(61)
        await #expect(throws: AuthenticationError.invalid("the token has expired")) {
            _ = try await verifier.identity(authorization: "Bearer \(token)", requiring: Scopes.write, now: later)
        }
    }

    @Test func offIsForLoopbackOnly() async throws {
        #expect(
            try await AuthSettings.verifier(mode: "off", modeFlag: "--write-auth", keysPath: nil, issuer: nil, audience: nil, host: "127.0.0.1")
                == nil
        )
        for host in ["0.0.0.0", "10.0.0.5", "example.org"] {
            await #expect(throws: AuthenticationError.self) {
                _ = try await AuthSettings.verifier(mode: "off", modeFlag: "--write-auth", keysPath: nil, issuer: nil, audience: nil, host: host)
            }
        }
        await #expect(throws: AuthenticationError.self) {
            _ = try await AuthSettings.verifier(
                mode: "required",
                modeFlag: "--write-auth",
                keysPath: nil,
                issuer: "i",
                audience: "a",
                host: "127.0.0.1"
            )
        }
        await #expect(throws: AuthenticationError.self) {
            _ = try await AuthSettings.verifier(mode: "maybe", modeFlag: "--write-auth", keysPath: nil, issuer: nil, audience: nil, host: "127.0.0.1")
        }
    }
}
