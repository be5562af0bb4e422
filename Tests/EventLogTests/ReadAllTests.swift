import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import Postgres
import Synchronization
import Testing

/// Reads the whole log in commit-safe order, remembering everything it saw, until told to stop.
private final class Tailer: Sendable {
    let seen = Mutex<[RecordedEvent]>([])
    let polls = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let store: EventStore

    init(store: EventStore) { self.store = store }

    func run(from start: ConsistencyToken) async throws {
        var cursor = start
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let stopping = stop.load(ordering: .acquiring)
            let batch = try await store.readAll(after: cursor, limit: 200)
            if let last = batch.last { cursor = last.token }
            seen.withLock { $0 += batch }
            polls.add(1, ordering: .releasing)
            if stopping && batch.isEmpty { return }
            if batch.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        }
    }

    func waitForPolls(_ count: Int) async throws {
        let target = polls.load(ordering: .acquiring) + count
        let deadline = ContinuousClock.now + .seconds(30)
        while polls.load(ordering: .acquiring) < target && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    func tokens(of streams: Set<UUID>) -> [ConsistencyToken] {
        seen.withLock { $0.filter { streams.contains($0.streamID) }.map(\.token) }
    }
}

@Suite(Cluster.needed) struct ReadAllTests {
    @Test func anEventCommittedLaterWithAnEarlierTransactionIsNeverSkipped() async throws {
        let writer = try await writerStore(poolSize: 4)
        let tailer = Tailer(store: try await projectorStore())
        let start = try await tailer.store.head()
        let (held, early, late) = (UUID(), UUID(), UUID())
        let heldInserted = Flag()
        let release = Flag()

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await tailer.run(from: start) }
            group.addTask {
                // Transaction A takes its id first and commits last.
                _ = try await writer.append(to: held, expectedVersion: 0, events: [sampleEvent("held")], metadata: .test, idempotency: nil) { _ in
                    heldInserted.raise()
                    let deadline = ContinuousClock.now + .seconds(60)
                    while !release.isRaised && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                }
            }
            let inserted = ContinuousClock.now + .seconds(30)
            while !heldInserted.isRaised && ContinuousClock.now < inserted { try await Task.sleep(for: .milliseconds(5)) }
            _ = try await writer.append(to: early, expectedVersion: 0, events: [sampleEvent("B")], metadata: .test)
            _ = try await writer.append(to: late, expectedVersion: 0, events: [sampleEvent("C")], metadata: .test)
            try await tailer.waitForPolls(3)
            // B and C are committed, but A (older) is not: a commit-safe reader must not have moved past A.
            #expect(tailer.tokens(of: [held, early, late]).isEmpty)
            release.raise()
            let deadline = ContinuousClock.now + .seconds(30)
            while tailer.tokens(of: [held, early, late]).count < 3 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            tailer.stop.store(true, ordering: .releasing)
            try await group.waitForAll()
        }
        let order = tailer.seen.withLock { $0.filter { [held, early, late].contains($0.streamID) }.map(\.streamID) }
        #expect(order == [held, early, late])
    }

    @Test func aTailingReaderUnderConcurrentOutOfOrderCommitsSeesEveryEventOnceInTokenOrder() async throws {
        let writer = try await writerStore(poolSize: 8)
        let tailer = Tailer(store: try await projectorStore())
        let start = try await tailer.store.head()
        let appended = Shared<[ConsistencyToken]>([])
        let streams = Shared<Set<UUID>>([])

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await tailer.run(from: start) }
            try await withThrowingTaskGroup(of: Void.self) { writers in
                for _ in 0..<8 {
                    writers.addTask {
                        for _ in 0..<15 {
                            let stream = UUID()
                            streams.mutate { _ = $0.insert(stream) }
                            // Each transaction lingers a random while after taking its id, so commits land out of id order.
                            let result = try await writer.append(
                                to: stream,
                                expectedVersion: 0,
                                events: [sampleEvent(), renamed("x")],
                                metadata: .test,
                                idempotency: nil
                            ) { _ in try? await Task.sleep(for: .milliseconds(Int.random(in: 0...20))) }
                            appended.mutate { $0 += result.events.map(\.token) }
                        }
                    }
                }
                try await writers.waitForAll()
            }
            // The commit-safe horizon is cluster-wide: a transaction of another suite, in another database,
            // may hold the tailer back for a while. Wait for every event (bounded), then a few more polls
            // in which a duplicate would show.
            let deadline = ContinuousClock.now + .seconds(30)
            while tailer.tokens(of: streams.value).count < appended.value.count && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            try await tailer.waitForPolls(2)
            tailer.stop.store(true, ordering: .releasing)
            try await group.waitForAll()
        }
        let ours = tailer.tokens(of: streams.value)
        let expected = appended.value
        #expect(ours.count == expected.count)
        #expect(Set(ours) == Set(expected))
        let everything = tailer.seen.withLock { $0.map(\.token) }
        #expect(everything == everything.sorted())
        #expect(Set(everything).count == everything.count)
    }

    /// The projector's idle probe, run as a prepared statement's generic plan (what PostgreSQL uses after
    /// five runs), reads the log through its commit-order index and never scans the table; it still tells
    /// an event after the token from none.
    @Test func theIdleProbeNeverScansTheLog() async throws {
        let writer = try await writerStore()
        let before = try await (try await projectorStore()).head()
        _ = try await writer.append(to: UUID(), expectedVersion: 0, events: [sampleEvent()], metadata: .test)
        let client = try client("CATALOG_PROJECTOR_PRIMARY", poolSize: 1)
        let store = EventStore(client: client)
        let scans = try await client.withTransaction { session in
            try await session.query("SET LOCAL plan_cache_mode = force_generic_plan")
            // Other suites' transactions still open can hold the event back from commit-safe readers a while.
            var found = false
            for _ in 0..<200 where !found {
                found = try await store.hasEvents(after: before, in: session)
                if !found { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(found)
            let future = ConsistencyToken(transaction: 1 << 60, position: 0)
            for _ in 0..<5 { #expect(try await store.hasEvents(after: future, in: session) == false) }
            let rows = try await session.query(
                "SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relname = 'events'"
            )
            return (sequential: try rows.first?.decode(Int.self, at: 0) ?? 0, index: try rows.first?.decode(Int.self, at: 1) ?? 0)
        }
        #expect(scans.sequential == 0)
        #expect(scans.index >= 6)
    }

    @Test func headIsTheLastCommitSafeToken() async throws {
        let writer = try await writerStore()
        let result = try await writer.append(to: UUID(), expectedVersion: 0, events: [sampleEvent()], metadata: .test)
        let head = try await (try await projectorStore()).head()
        #expect(head >= result.token)
    }
}

private final class Flag: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .releasing) }
    var isRaised: Bool { raised.load(ordering: .acquiring) }
}

private final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    func mutate(_ body: (inout Value) -> Void) { storage.withLock { body(&$0) } }
    var value: Value { storage.withLock { $0 } }
}

@Suite(Cluster.needed) struct CommitOrderTests {
    /// Transaction ids must sort as numbers, not as text ("99" after "100"). A temporary `events` table
    /// in the owner's single session shadows the real one, so the store's own queries run on rows whose
    /// transaction ids straddle digit boundaries.
    @Test func transactionIdsSortAsNumbers() async throws {
        _ = try await writerStore()
        let owner = try client("CATALOG_MIGRATOR_PRIMARY", poolSize: 1)
        try await owner.query("CREATE TEMP TABLE events (LIKE public.events INCLUDING ALL)")
        let stream = UUID()
        // Below any live transaction id: a new cluster has used some 700 by the time tests run.
        for (version, txid) in [(1, "9"), (2, "10"), (3, "100")] {
            try await owner.query(
                """
                INSERT INTO events (txid, stream_id, version, type, schema_version, data, metadata)
                VALUES (\(txid)::xid8, \(stream), \(version), 'AlbumCreated', 2, '{}', '{"subject": "test", "requestId": null}')
                """
            )
        }
        let store = EventStore(client: owner)
        let read = try await store.readAll(after: .origin, limit: 10)
        #expect(read.map(\.token.transaction) == [9, 10, 100])
        #expect(try await store.readAll(after: read[0].token, limit: 10).map(\.version) == [2, 3])
        #expect(try await store.head().transaction == 100)
        try await owner.query("DROP TABLE pg_temp.events")
    }
}
