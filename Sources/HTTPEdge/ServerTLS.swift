import HummingbirdCore
import HummingbirdTLS
import NIOSSL

/// HTTPS served by the service itself (for deployments without a TLS-terminating load balancer): the
/// certificate chain and private key, PEM files, read once at start.
public struct ServerTLS: Sendable, Equatable {
    public var certificateFile: String
    public var keyFile: String

    public init(certificateFile: String, keyFile: String) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    /// The server's TLS configuration: TLS 1.2 at least, no client certificate asked for. Errors name the
    /// file, never its content.
    func configuration() throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw ServerTLSError("cannot read a PEM certificate chain from \(certificateFile) (--tls-cert): \(error)")
        }
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw ServerTLSError("cannot read a PEM private key from \(keyFile) (--tls-key)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}

public struct ServerTLSError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension HTTPServerBuilder {
    /// The catalog's HTTP/1.1 server: `timeouts` for slow clients, and HTTPS when `tls` is given.
    public static func catalog(timeouts: ConnectionTimeouts, tls: ServerTLS?) throws -> HTTPServerBuilder {
        guard let tls else { return .http1(timeouts: timeouts) }
        return try .tls(.http1(timeouts: timeouts), tlsConfiguration: try tls.configuration())
    }
}
