import Authentication
import ClusterHarness
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import QueryAPI

/// `--read-auth required`: album reads need a bearer token with catalog:read, with the same verifier and
/// answers as command-api's commands; health, metrics and the OpenAPI document stay open. Off (the
/// default) reads need none.
@Suite(Cluster.needed) struct ReadAuthTests {
    @Test func albumReadsNeedATokenWithTheReadScope() async throws {
        let issuer = TestIssuer()
        let catalog = try await ReadCatalog()
        do {
            var settings = try catalog.settings()
            settings.verifier = try await TokenVerifier(configuration: .init(keySet: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience))
            try await catalog.run(settings) { client in
                let (id, token) = try await catalog.create("Read auth")
                let reader = "Bearer " + issuer.token(scope: "catalog:read")
                for path in ["/albums/\(id)", "/albums", "/albums/\(id)/history"] {
                    let none = try await client.get(path)
                    #expect(none.status == .unauthorized, "\(path): \(none.status)")
                    #expect(none.headers[.wwwAuthenticate] == #"Bearer realm="catalog""#)
                    let expired = try await client.get(
                        path,
                        headers: [.authorization: "Bearer " + issuer.token(expires: Date().addingTimeInterval(-600))]
                    )
                    #expect(expired.status == .unauthorized)
                    #expect(expired.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
                    let writer = try await client.get(path, headers: [.authorization: "Bearer " + issuer.token(scope: "catalog:write")])
                    #expect(writer.status == .forbidden, "\(path): \(writer.status)")
                    #expect(writer.headers[.wwwAuthenticate]?.contains(#"scope="catalog:read""#) == true)
                    let read = try await client.get(path, headers: [.authorization: reader, .consistencyToken: token.description])
                    #expect(read.status == .ok, "\(path): \(read.status) \(read.text)")
                }
                for path in ["/health/live", "/health/ready", "/metrics", "/openapi.json"] {
                    #expect(try await client.get(path).status == .ok, "\(path)")
                }
            }
            // Off: the same reads need no token.
            try await catalog.run(try catalog.settings()) { client in
                let (id, token) = try await catalog.create("Public read")
                let read = try await client.get("/albums/\(id)", headers: [.consistencyToken: token.description])
                #expect(read.status == .ok)
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    @Test func readAuthOffNeedsNoLoopbackButWriteAuthOffDoes() async throws {
        let read = try await AuthSettings.verifier(
            mode: "off",
            modeFlag: "--read-auth",
            keysPath: nil,
            issuer: nil,
            audience: nil,
            host: "0.0.0.0",
            offOnLoopbackOnly: false
        )
        #expect(read == nil)
    }
}
