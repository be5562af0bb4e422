import ClusterHarness
import Foundation
import Postgres
import Testing

@testable import EventLog

/// Every event says who caused it (the audit trail): the subject and request id of its command, stored
/// with it, read back with it, and a key of one subject's command refused to every other subject.
@Suite(Cluster.needed) struct AuditTrailTests {
    @Test func everyEventOfACommandCarriesItsSubjectAndRequestID() async throws {
        let store = try await writerStore()
        let stream = UUID()
        let by = EventMetadata(subject: "user:ada \"quoted\" ü", requestID: "req-\(UUID())")
        let appended = try await store.append(to: stream, expectedVersion: 0, events: [sampleEvent(), renamed("x")], metadata: by)
        #expect(appended.events.map(\.metadata) == [by, by])
        let other = EventMetadata(subject: "service:importer", requestID: nil)
        _ = try await store.append(to: stream, expectedVersion: 2, events: [renamed("y")], metadata: other)
        let read = try await store.readStream(stream)
        #expect(read.map(\.metadata) == [by, by, other])
        // The commit-safe reader sees them once no older transaction is open (other suites' may be).
        var all: [RecordedEvent] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while all.count < 2 && ContinuousClock.now < deadline {
            all = try await store.readAll(after: appended.events[0].token, limit: 10_000).filter { $0.streamID == stream }
            if all.count < 2 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(all.map(\.metadata) == [by, other])
    }

    @Test func aKeyOfAnotherSubjectsCommandIsRefusedEvenForTheSameRequest() async throws {
        let store = try await writerStore()
        let key = IdempotencyKey(key: "audit-\(UUID())", requestHash: "same request")
        let stream = UUID()
        let ada = EventMetadata(subject: "ada", requestID: "1")
        _ = try await store.append(to: stream, expectedVersion: 0, events: [sampleEvent()], metadata: ada, idempotency: key)
        // Past the lookup, on the INSERT's unique index: the path a race between the two takes.
        let error = await #expect(throws: AppendError.self) {
            try await store.append(
                to: UUID(),
                expectedVersion: 0,
                events: [sampleEvent()],
                metadata: .init(subject: "eve", requestID: "2"),
                idempotency: key
            )
        }
        #expect(error.map { if case .idempotencyKeyOfAnotherSubject = $0 { true } else { false } } == true, "\(String(describing: error))")
        // The lookup command-api makes first, which tells a retry from another subject's reuse.
        let earlier = try #require(try await store.command(withKey: key.key))
        #expect(earlier.subject == "ada")
        #expect(earlier.refusal(of: key, by: "eve").isOfAnotherSubject)
        #expect(earlier.refusal(of: IdempotencyKey(key: key.key, requestHash: "other"), by: "eve").isOfAnotherSubject)
        #expect(earlier.refusal(of: IdempotencyKey(key: key.key, requestHash: "other"), by: "ada").isIdempotencyKeyReused)
        if case .duplicate(let same) = earlier.refusal(of: key, by: "ada") {
            #expect(same.streamID == stream)
        } else {
            Issue.record("the same subject's retry is not a duplicate")
        }
        #expect(try await store.readStream(stream).count == 1)
    }

    /// An event log written before the audit trail (migrations 1 to 3) keeps its events, which migration
    /// 4 marks as from an anonymous writer with no request id; the history view shows the same.
    @Test func eventsFromBeforeTheAuditTrailAreMigratedForwardAsAnonymous() async throws {
        let database = try await ScratchDatabase("audit_forward")
        let owner = try client(conninfo: try database.conninfo("CATALOG_MIGRATOR_PRIMARY"), poolSize: 1)
        let writer = try client(conninfo: try database.conninfo("CATALOG_PRIMARY"), poolSize: 1)
        do {
            try await owner.migrate(CatalogSchema.migrations.filter { $0.version <= 3 })
            let stream = UUID()
            try await owner.query(
                """
                INSERT INTO events (stream_id, version, type, schema_version, data)
                VALUES (\(stream), 1, 'AlbumCreated', 1, '{"title": "Old", "artist": "A", "releaseYear": null, "songs": []}')
                """
            )
            let applied = try await owner.migrate(CatalogSchema.migrations)
            #expect(applied.contains(4) && applied.contains(5))
            let old = try await EventStore(client: writer).readStream(stream)
            #expect(old.map(\.metadata) == [EventMetadata(subject: "anonymous", requestID: nil)])
            #expect(
                try await database.psql(
                    "SELECT subject || '/' || coalesce(request_id, 'none') FROM read_model.album_history WHERE album_id = '\(stream)'"
                )
                    == "anonymous/none"
            )
            // New events must name their own: the column has no default left.
            await #expect(throws: PostgresError.self) {
                try await owner.query(
                    "INSERT INTO events (stream_id, version, type, schema_version, data) VALUES (\(stream), 2, 'AlbumArchived', 1, '{}')"
                )
            }
        } catch {
            await owner.shutdown()
            await writer.shutdown()
            await database.drop()
            throw error
        }
        await owner.shutdown()
        await writer.shutdown()
        await database.drop()
    }
}

extension AppendError {
    var isOfAnotherSubject: Bool {
        if case .idempotencyKeyOfAnotherSubject = self { return true }
        return false
    }
}
