import Foundation
import HTTPEdge
import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// HTTPS served by the service itself: a client that trusts the certificate gets its answer over TLS, a
/// plaintext request gets none, and the slow-client read deadline still applies behind TLS.
@Suite struct ServerTLSTests {
    /// A self-signed certificate for 127.0.0.1, made by openssl in a directory of its own.
    static func certificate() throws -> (directory: URL, tls: ServerTLS) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("server-tls-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (certificate, key) = (directory.appendingPathComponent("server.crt").path, directory.appendingPathComponent("server.key").path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=test",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
        ]
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl could not make a certificate")
        return (directory, ServerTLS(certificateFile: certificate, keyFile: key))
    }

    @Test func aTrustingClientIsAnsweredOverTLSAndPlaintextIsNot() async throws {
        let (directory, tls) = try Self.certificate()
        defer { try? FileManager.default.removeItem(at: directory) }
        let router = Router()
        router.get("/hello") { _, _ in "hello over TLS" }
        let app = Application(
            router: router,
            server: try .catalog(timeouts: ConnectionTimeouts(read: .seconds(1), idle: .seconds(30)), tls: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(tls.certificateFile))
            let context = try NIOSSLContext(configuration: configuration)

            let secure = try await RawConnection(port: port, tls: context)
            try await secure.send("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(await secure.waitFor("hello over TLS", within: .seconds(10)), "\(secure.received)")
            // Behind TLS, a request trickled a byte at a time is still cut at the read timeout.
            try await secure.send("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            let closed = try await secure.trickle("a", every: .milliseconds(100), for: .seconds(15))
            #expect(closed != nil, "a trickled request held the TLS connection for 15 s")

            let plain = try await RawConnection(port: port)
            try await plain.send("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(await plain.closed(within: .seconds(10)) != nil, "the TLS port kept a plaintext connection open")
            #expect(!plain.received.contains("hello"), "answered in plaintext: \(plain.received)")
        }
    }

    @Test func aMissingOrBrokenKeyIsAClearErrorAtStart() throws {
        let (directory, tls) = try Self.certificate()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = ServerTLS(certificateFile: tls.certificateFile, keyFile: directory.appendingPathComponent("missing.key").path)
        let error = #expect(throws: ServerTLSError.self) { _ = try HTTPServerBuilder.catalog(timeouts: .init(), tls: missing) }
        #expect(error?.description.contains("--tls-key") == true, "\(String(describing: error))")
        let swapped = ServerTLS(certificateFile: tls.keyFile, keyFile: tls.keyFile)
        #expect(throws: ServerTLSError.self) { _ = try HTTPServerBuilder.catalog(timeouts: .init(), tls: swapped) }
    }
}
