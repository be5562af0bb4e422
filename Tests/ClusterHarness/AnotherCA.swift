import Foundation

/// A certificate authority the cluster does not trust (openssl, P-256), in a directory of its own: for
/// tests that a client trusting it cannot connect. `remove()` deletes it.
public struct AnotherCA: Sendable {
    public let directory: URL
    /// Its certificate (PEM), what such a client would trust.
    public var certificate: String { directory.appendingPathComponent("ca.crt").path }

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("other-ca-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let made = try ChildProcess.run(
            "/usr/bin/openssl",
            arguments: [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=another CA",
                "-keyout", directory.appendingPathComponent("ca.key").path, "-out", directory.appendingPathComponent("ca.crt").path,
            ],
            environment: []
        )
        guard made.status == 0 else { throw HarnessError("openssl could not make a CA: \(made.output)") }
    }

    public func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
