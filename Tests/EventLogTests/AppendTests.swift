import ClusterHarness
import Domain
import Foundation
import Postgres
import Synchronization
import Testing

@testable import EventLog

@Suite(Cluster.needed) struct AppendTests {
    /// On a fresh database (the shared one is migrated long before: there the race is 0 == 0), four
    /// migrators are held at the migration lock until all four are waiting on it at once, then let go:
    /// one applies every migration, the others find nothing left to do.
    @Test func migrationsRacedOnAFreshDatabaseApplyEachMigrationOnce() async throws {
        let database = try await ScratchDatabase("migrate_race")
        let conninfo = try database.conninfo("CATALOG_MIGRATOR_PRIMARY")
        let gate = try client(conninfo: conninfo, poolSize: 1)
        let owners = try (0..<4).map { _ in try client(conninfo: conninfo, poolSize: 1) }
        do {
            #expect(try await database.psql("SELECT to_regclass('schema_migrations') IS NULL AND to_regclass('events') IS NULL") == "t")
            let applied = try await gate.withConnection { session in
                try await session.query("SELECT pg_advisory_lock(\(PostgresClient.migrationLockKey))")
                return try await withThrowingTaskGroup(of: [Int].self) { group in
                    for owner in owners { group.addTask { try await CatalogSchema.migrate(owner) } }
                    // The race is real only if all four are inside migrate at the same time.
                    let waiters =
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
                        + "(SELECT oid FROM pg_database WHERE datname = current_database())"
                    let allWaiting = try await within(.seconds(30)) { try await database.psql(waiters) == "4" }
                    #expect(allWaiting, "the four migrators were never all waiting on the migration lock at once")
                    try await session.query("SELECT pg_advisory_unlock(\(PostgresClient.migrationLockKey))")
                    return try await group.reduce(into: [[Int]]()) { $0.append($1) }
                }
            }
            let all = CatalogSchema.migrations.map(\.version)
            #expect(applied.filter { !$0.isEmpty } == [all], "one migrator applies every migration, the others none: \(applied)")
            #expect(applied.count == 4)
            let versions = try await gate.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(Int.self, at: 0) }
            #expect(versions == all)
        } catch {
            await shutdown(gate, owners)
            await database.drop()
            throw error
        }
        await shutdown(gate, owners)
        await database.drop()
    }

    private func shutdown(_ gate: PostgresClient, _ owners: [PostgresClient]) async {
        await gate.shutdown()
        for owner in owners { await owner.shutdown() }
    }

    @Test func appendsSeveralEventsInOneTransactionAndReadsThemBack() async throws {
        let store = try await writerStore()
        let stream = UUID()
        let first = try await store.append(to: stream, expectedVersion: 0, events: [sampleEvent()], metadata: .test)
        #expect(first.version == 1)
        let second = try await store.append(to: stream, expectedVersion: 1, events: [renamed("A"), renamed("B")], metadata: .test)
        #expect(second.events.map(\.version) == [2, 3])
        #expect(second.events[0].token.transaction == second.events[1].token.transaction)
        #expect(second.token > first.token)
        let read = try await store.readStream(stream)
        #expect(read.map(\.version) == [1, 2, 3])
        // jsonb normalises the text; the events are the same.
        #expect(
            try read.map { try AlbumEvent(decoding: $0.event) } == [sampleEvent(), renamed("A"), renamed("B")].map { try AlbumEvent(decoding: $0) }
        )
        #expect(read.map(\.token) == first.events.map(\.token) + second.events.map(\.token))
    }

    @Test func aStaleExpectedVersionIsAConflictAndAppendsNothing() async throws {
        let store = try await writerStore()
        let stream = UUID()
        _ = try await store.append(to: stream, expectedVersion: 0, events: [sampleEvent()], metadata: .test)
        for stale in [0, 2, 5] {
            let error = await #expect(throws: AppendError.self) {
                try await store.append(to: stream, expectedVersion: stale, events: [renamed("x")], metadata: .test)
            }
            #expect(error?.isVersionConflict == true, "expected version \(stale): \(String(describing: error))")
        }
        #expect(try await store.readStream(stream).count == 1)
    }

    @Test func sixteenWritersAtTheSameExpectedVersionOneWins() async throws {
        let store = try await writerStore(poolSize: 16)
        let stream = UUID()
        _ = try await store.append(to: stream, expectedVersion: 0, events: [sampleEvent()], metadata: .test)
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for writer in 0..<16 {
                group.addTask {
                    do {
                        _ = try await store.append(to: stream, expectedVersion: 1, events: [renamed("writer \(writer)")], metadata: .test)
                        return true
                    } catch AppendError.versionConflict {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(try await store.readStream(stream).map(\.version) == [1, 2])
        #expect(try await store.version(of: stream) == 2)
        #expect(try await store.version(of: UUID()) == 0, "a stream with no events is at version 0")
    }

    @Test func writersThatRetryOnConflictLeaveNoGapAndNoDuplicate() async throws {
        let store = try await writerStore(poolSize: 16)
        let stream = UUID()
        _ = try await store.append(to: stream, expectedVersion: 0, events: [sampleEvent()], metadata: .test)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<16 {
                group.addTask {
                    for attempt in 0..<4 {
                        while true {
                            let head = try await store.readStream(stream).count
                            do {
                                _ = try await store.append(
                                    to: stream,
                                    expectedVersion: head,
                                    events: [renamed("\(writer)/\(attempt)")],
                                    metadata: .test
                                )
                                break
                            } catch AppendError.versionConflict {
                                continue
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let versions = try await store.readStream(stream).map(\.version)
        #expect(versions == Array(1...65))
    }
}

@Suite(Cluster.needed) struct IdempotencyTests {
    @Test func aRetryWithTheSameKeyReturnsTheFirstCommandAndAppendsNothing() async throws {
        let store = try await writerStore()
        let key = IdempotencyKey(key: "retry-\(UUID())", requestHash: RequestFingerprint.of("body".utf8))
        let stream = UUID()
        let first = try await store.append(to: stream, expectedVersion: 0, events: [sampleEvent(), renamed("x")], metadata: .test, idempotency: key)
        do {
            _ = try await store.append(to: UUID(), expectedVersion: 0, events: [sampleEvent()], metadata: .test, idempotency: key)
            Issue.record("the retry appended")
        } catch AppendError.duplicate(let earlier) {
            #expect(earlier.streamID == stream)
            #expect(earlier.version == first.version)
            #expect(earlier.token == first.token)
            #expect(earlier.events.map(\.token) == first.events.map(\.token))
            #expect(earlier.events.map(\.event.type) == ["AlbumCreated", "AlbumDetailsChanged"])
        }
        let found = try await store.command(withKey: key.key)
        #expect(found?.events.map(\.token) == first.events.map(\.token))
    }

    @Test func theSameKeyWithAnotherBodyIsRefused() async throws {
        let store = try await writerStore()
        let key = "reuse-\(UUID())"
        _ = try await store.append(
            to: UUID(),
            expectedVersion: 0,
            events: [sampleEvent()],
            metadata: .test,
            idempotency: .init(key: key, requestHash: "a")
        )
        let error = await #expect(throws: AppendError.self) {
            try await store.append(
                to: UUID(),
                expectedVersion: 0,
                events: [sampleEvent()],
                metadata: .test,
                idempotency: .init(key: key, requestHash: "b")
            )
        }
        #expect(error?.isIdempotencyKeyReused == true, "\(String(describing: error))")
        #expect(try await store.command(withKey: "never-used-\(UUID())") == nil)
    }

    @Test func fiftyConcurrentRetriesOfOneKeyAppendOnce() async throws {
        let store = try await writerStore(poolSize: 16)
        let key = IdempotencyKey(key: "storm-\(UUID())", requestHash: "same")
        let streams = (0..<50).map { _ in UUID() }
        let results = try await withThrowingTaskGroup(of: UUID.self) { group in
            for stream in streams {
                group.addTask {
                    do {
                        return try await store.append(to: stream, expectedVersion: 0, events: [sampleEvent()], metadata: .test, idempotency: key)
                            .events[0].streamID
                    } catch AppendError.duplicate(let earlier) {
                        return earlier.streamID
                    }
                }
            }
            return try await group.reduce(into: [UUID]()) { $0.append($1) }
        }
        #expect(Set(results).count == 1)
        let owner = try client("CATALOG_MIGRATOR_PRIMARY", poolSize: 1)
        let appended = try await owner.query("SELECT count(*) FROM events WHERE stream_id = ANY(\(streams))")[0].decode(Int.self, at: 0)
        #expect(appended == 1)
    }
}
