import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import Testing

@testable import QueryAPI

@Suite("query-api shutdown", Cluster.needed)
struct QueryShutdownTests {
    /// A read waiting for its token when shutdown begins is still answered, from the database, once the
    /// token is reached; then the service stops and refuses new connections.
    @Test("graceful shutdown lets a read waiting for its token finish, then stops")
    func gracefulShutdown() async throws {
        let catalog = try await ReadCatalog()
        do {
            let logger = Logger(label: "query-shutdown-test")
            var settings = try catalog.settings()
            settings.port = try freePort()
            let port = settings.port
            let app = try buildApplication(settings, logger: logger)
            let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))
            let (id, created) = try await catalog.create("Shutdown")
            try await catalog.withProjector {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    let client = TestClient(host: "127.0.0.1", port: port)
                    #expect(try await eventually { (try? await Self.answers(port: port)) == true })
                    client.connect()
                    // Transaction ids are cluster-wide and only grow: any later write's token is past this one.
                    let ahead = ConsistencyToken(transaction: created.transaction + 1, position: 0)
                    async let answer = client.execute(
                        .init("/albums/\(id)", method: .get, headers: [.consistencyToken: ahead.description])
                    )
                    try await Task.sleep(for: .milliseconds(300))
                    await group.triggerGracefulShutdown()
                    // The shutdown has begun (the listener is closed) while the read still waits for its
                    // token: it had its chance to cut the read off before the event arrives.
                    #expect(try await eventually { (try? await Self.answers(port: port)) == false }, "the listener never closed")
                    let changed = AlbumEvent.detailsChanged(AlbumDetailsChanged(title: "Answered", artist: "Miles Davis", releaseYear: nil))
                    _ = try await catalog.store.append(to: id.uuid, expectedVersion: 1, events: [changed.encoded()], metadata: .test)
                    let response = try await answer
                    #expect(response.status == .ok)
                    let body = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body ?? ByteBuffer()).utf8)) as? [String: Any]
                    #expect(body?["title"] as? String == "Answered")
                    try await client.shutdown()
                    try await tasks.waitForAll()
                    #expect(try await Self.answers(port: port) == false, "still listening after shutdown")
                }
            }
        } catch {
            await catalog.close()
            throw error
        }
        await catalog.close()
    }

    /// Whether something answers GET /health/live on the port.
    static func answers(port: Int) async throws -> Bool {
        let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(2)))
        client.connect()
        let answered = (try? await client.execute(.init("/health/live", method: .get)).status == .ok) ?? false
        try? await client.shutdown()
        return answered
    }

    private func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}
