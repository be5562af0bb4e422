import ConnectionPool
import Synchronization
import Testing

@Suite struct ConnectionPoolTests {
    @Test func noConnectionIsLentToTwoCallersAtOnce() async throws {
        let pool = ConnectionPool(size: 4) { $0 }
        let tracker = Tracker()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    try await pool.withConnection(timeout: .seconds(10)) { connection in
                        tracker.begin(connection)
                        try await Task.sleep(for: .milliseconds(2))
                        tracker.end(connection)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(tracker.overlaps.load(ordering: .relaxed) == 0)
        #expect(pool.statistics == .init(size: 4, leased: 0, idle: 4, waiting: 0))
    }

    @Test func aCallerGivesUpAfterTheCheckoutTimeout() async throws {
        let pool = ConnectionPool(size: 1) { $0 }
        let held = try await pool.lease(timeout: .seconds(1))
        let started = ContinuousClock.now
        await #expect(throws: PoolError.checkoutTimeout) {
            try await pool.lease(timeout: .milliseconds(100))
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        pool.release(slot: held)
        #expect(pool.statistics.waiting == 0)
        let again = try await pool.lease(timeout: .milliseconds(100))
        #expect(again == held)
    }

    @Test func aCancelledWaiterLeavesTheQueue() async throws {
        let pool = ConnectionPool(size: 1) { $0 }
        let held = try await pool.lease(timeout: .seconds(1))
        let waiter = Task { try await pool.lease(timeout: .seconds(30)) }
        while pool.statistics.waiting == 0 { try await Task.sleep(for: .milliseconds(1)) }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        pool.release(slot: held)
        #expect(pool.statistics == .init(size: 1, leased: 0, idle: 1, waiting: 0))
    }

    @Test func shutdownFailsWaitingAndNewCallers() async throws {
        let pool = ConnectionPool(size: 1) { $0 }
        let held = try await pool.lease(timeout: .seconds(1))
        let waiter = Task { try await pool.lease(timeout: .seconds(30)) }
        while pool.statistics.waiting == 0 { try await Task.sleep(for: .milliseconds(1)) }
        pool.shutdown()
        await #expect(throws: PoolError.shutDown) { try await waiter.value }
        await #expect(throws: PoolError.shutDown) { try await pool.lease(timeout: .seconds(1)) }
        pool.release(slot: held)
    }
}

private final class Tracker: Sendable {
    let inUse = Mutex<Set<Int>>([])
    let overlaps = Atomic<Int>(0)

    func begin(_ connection: Int) {
        if !inUse.withLock({ $0.insert(connection).inserted }) { overlaps.add(1, ordering: .relaxed) }
    }

    func end(_ connection: Int) {
        inUse.withLock { _ = $0.remove(connection) }
    }

    /// A drain whose task is cancelled (graceful shutdown cancels services) waits for the lent connection
    /// without a sleep in a loop: a cancelled task's sleep returns at once, and such a loop spun a core at
    /// 100% in a query-api that could not bind its port while a health check held a connection.
    @Test(.timeLimit(.minutes(1))) func aCancelledDrainWaitsForLentConnectionsWithoutPolling() async throws {
        let pool = ConnectionPool(size: 2) { $0 }
        let held = try await pool.lease(timeout: .seconds(1))
        let closed = Atomic<Int>(0)
        let drain = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await pool.drain { _ in closed.add(1, ordering: .relaxed) }
        }
        while pool.waitingDrains == 0 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(closed.load(ordering: .relaxed) == 0)
        pool.release(slot: held)
        await drain.value
        #expect(closed.load(ordering: .relaxed) == 2)
        #expect(pool.waitingDrains == 0)
        // Nothing lent: a drain returns at once.
        await pool.drain { _ in closed.add(1, ordering: .relaxed) }
        #expect(closed.load(ordering: .relaxed) == 4)
    }
}
