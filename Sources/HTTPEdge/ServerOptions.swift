import ArgumentParser
import Foundation

/// The flags of the HTTP edge both services take: slow clients' timeouts and whether /metrics is served.
/// Each falls back to its environment variable.
public struct ServerOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Seconds a request may take to arrive whole, head and body, from its first byte (env CATALOG_HTTP_READ_TIMEOUT, default 10)."
    )
    public var readTimeout: Double?

    @Option(name: .long, help: "Seconds a connection may stay silent before it is closed (env CATALOG_HTTP_IDLE_TIMEOUT, default 60).")
    public var idleTimeout: Double?

    @Option(name: .long, help: "on or off: whether GET /metrics is served (env CATALOG_METRICS, default on).")
    public var metrics: String?

    @Option(name: .long, help: "PEM certificate chain: serve HTTPS (env CATALOG_HTTP_TLS_CERT; with --tls-key).")
    public var tlsCert: String?

    @Option(name: .long, help: "PEM private key of --tls-cert (env CATALOG_HTTP_TLS_KEY).")
    public var tlsKey: String?

    public init() {}

    /// The timeouts asked for; a usage error outside 0.1 s to one hour.
    public func timeouts() throws -> ConnectionTimeouts {
        let environment = ProcessInfo.processInfo.environment
        func seconds(_ value: Double?, _ variable: String, _ flag: String, default fallback: Double) throws -> Duration {
            let text = environment[variable]
            guard let seconds = value ?? (text.map { Double($0) } ?? fallback), seconds.isFinite, (0.1...3600).contains(seconds) else {
                throw ValidationError("\(flag) (or \(variable)) takes seconds from 0.1 to 3600")
            }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        return ConnectionTimeouts(
            read: try seconds(readTimeout, "CATALOG_HTTP_READ_TIMEOUT", "--read-timeout", default: 10),
            idle: try seconds(idleTimeout, "CATALOG_HTTP_IDLE_TIMEOUT", "--idle-timeout", default: 60)
        )
    }

    /// HTTPS, when a certificate and key are given (both or neither).
    public func tls() throws -> ServerTLS? {
        let environment = ProcessInfo.processInfo.environment
        let certificate = tlsCert ?? environment["CATALOG_HTTP_TLS_CERT"]
        let key = tlsKey ?? environment["CATALOG_HTTP_TLS_KEY"]
        switch (certificate, key) {
        case (nil, nil): return nil
        case (let certificate?, let key?):
            let tls = ServerTLS(certificateFile: certificate, keyFile: key)
            do {
                _ = try tls.configuration()
            } catch {
                throw ValidationError("\(error)")
            }
            return tls
        default: throw ValidationError("--tls-cert and --tls-key (CATALOG_HTTP_TLS_CERT, CATALOG_HTTP_TLS_KEY) go together")
        }
    }

    /// Whether /metrics is served.
    public func metricsOpen() throws -> Bool {
        switch metrics ?? ProcessInfo.processInfo.environment["CATALOG_METRICS"] ?? "on" {
        case "on": true
        case "off": false
        default: throw ValidationError("--metrics (or CATALOG_METRICS) takes on or off")
        }
    }
}
