import ClusterHarness
import Foundation
import Testing

@testable import Redis

/// Redis speaks TLS only (infra/cluster: `port 0`, `tls-port`), and the client verifies it: a plaintext
/// client gets no answer, a client that trusts another CA cannot connect, the cluster's own CA works.
@Suite(Cluster.needed) struct RedisTLSTests {
    static func configuration(_ change: (inout RedisClient.Configuration) -> Void = { _ in }) throws -> RedisClient.Configuration {
        var configuration = try RedisClient.Configuration(url: try Cluster.value("CATALOG_REDIS"))
        configuration.connectTimeout = .seconds(5)
        configuration.commandTimeout = .seconds(5)
        change(&configuration)
        return configuration
    }

    @Test func onlyTLSIsSpokenAndTheServerIsVerified() async throws {
        let verified = try RedisClient(configuration: try Self.configuration())
        #expect(try await verified.send("PING").string == "PONG")
        #expect(try await verified.send("CONFIG", "GET", "port").array?.last?.string == "0", "a plaintext port is open")
        await verified.shutdown()

        let plaintext = try RedisClient(configuration: try Self.configuration { $0.tls = nil })
        let refused = await #expect(throws: RedisError.self) { try await plaintext.send("PING") }
        #expect(refused?.code == .connectionFailed || refused?.code == .connectionLost, "\(String(describing: refused))")
        await plaintext.shutdown()

        let another = try AnotherCA()
        defer { another.remove() }
        let stranger = try RedisClient(configuration: try Self.configuration { $0.tls?.caFile = another.certificate })
        let untrusted = await #expect(throws: RedisError.self) { try await stranger.send("PING") }
        // Refused at the handshake. The message names the certificate when the handshake's failure reaches
        // the client before the channel is gone; under load the channel can close first.
        #expect(untrusted?.code == .connectionFailed, "\(String(describing: untrusted?.debugDescription))")
        await stranger.shutdown()

        // A CA file that is not there is a configuration error when the client is made, not a later failure.
        #expect(throws: RedisError.self) {
            try RedisClient(configuration: try Self.configuration { $0.tls?.caFile = another.directory.appendingPathComponent("missing.crt").path })
        }
    }
}
