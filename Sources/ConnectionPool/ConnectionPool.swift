import Dispatch
import Synchronization

public enum PoolError: Error, Equatable, Sendable {
    /// No connection became free within the checkout timeout.
    case checkoutTimeout
    /// The pool was shut down.
    case shutDown
}

/// A fixed set of connections lent out one caller at a time, with a bounded wait for a free one.
/// The decisions live in `PoolStateMachine`; this type adds the lock and the waiting.
public final class ConnectionPool<Connection: Sendable>: Sendable {
    public let connections: [Connection]
    private let state: Mutex<State>

    private struct State {
        var machine: PoolStateMachine
        var nextWaiter: PoolStateMachine.WaiterID = 0
        var continuations: [PoolStateMachine.WaiterID: CheckedContinuation<Int, any Error>] = [:]
        // Outcomes that arrived before the waiter had stored its continuation.
        var early: [PoolStateMachine.WaiterID: Result<Int, any Error>] = [:]
        /// `drain` callers waiting for the last lent connection to come back.
        var drainers: [CheckedContinuation<Void, Never>] = []
    }

    public init(size: Int, makeConnection: (Int) -> Connection) {
        self.connections = (0..<size).map(makeConnection)
        self.state = Mutex(State(machine: PoolStateMachine(size: size)))
    }

    public var statistics: PoolStateMachine.Statistics {
        state.withLock { $0.machine.statistics }
    }

    /// `drain` callers waiting for lent connections to come back.
    public var waitingDrains: Int {
        state.withLock { $0.drainers.count }
    }

    /// Lends a connection to `body`, waiting at most `timeout` for one to be free.
    public func withConnection<Result>(
        timeout: Duration,
        _ body: (Connection) async throws -> Result
    ) async throws -> Result {
        let slot = try await lease(timeout: timeout)
        defer { release(slot: slot) }
        return try await body(connections[slot])
    }

    public func lease(timeout: Duration) async throws -> Int {
        let (waiter, action) = state.withLock { state in
            state.nextWaiter += 1
            return (state.nextWaiter, state.machine.lease(waiter: state.nextWaiter))
        }
        switch action {
        case .lease(let slot): return slot
        case .fail: throw PoolError.shutDown
        case .wait: break
        }
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = max(0, seconds) * 1_000_000_000 + attoseconds / 1_000_000_000
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) {
            self.giveUp(waiter: waiter, with: PoolError.checkoutTimeout)
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let early = state.withLock { state -> Result<Int, any Error>? in
                    if let outcome = state.early.removeValue(forKey: waiter) { return outcome }
                    state.continuations[waiter] = continuation
                    return nil
                }
                if let early { continuation.resume(with: early) }
            }
        } onCancel: {
            giveUp(waiter: waiter, with: CancellationError())
        }
    }

    public func release(slot: Int) {
        let (resumption, drained) = state.withLock { state -> ((CheckedContinuation<Int, any Error>, Int)?, [CheckedContinuation<Void, Never>]) in
            switch state.machine.release(slot: slot) {
            case .idle:
                guard !state.drainers.isEmpty, state.machine.statistics.leased == 0 else { return (nil, []) }
                defer { state.drainers.removeAll() }
                return (nil, state.drainers)
            case .resume(let waiter, let slot):
                if let continuation = state.continuations.removeValue(forKey: waiter) { return ((continuation, slot), []) }
                state.early[waiter] = .success(slot)
                return (nil, [])
            }
        }
        if let (continuation, slot) = resumption { continuation.resume(returning: slot) }
        for drainer in drained { drainer.resume() }
    }

    /// Fails every waiter and every later lease. Connections already lent out come back through `release`.
    public func shutdown() {
        let failed = state.withLock { state in
            state.machine.shutdown().compactMap { waiter -> CheckedContinuation<Int, any Error>? in
                if let continuation = state.continuations.removeValue(forKey: waiter) { return continuation }
                state.early[waiter] = .failure(PoolError.shutDown)
                return nil
            }
        }
        for continuation in failed { continuation.resume(throwing: PoolError.shutDown) }
    }

    /// Shuts the pool down, waits for every lent connection to come back (in-flight work finishes), then
    /// closes each connection with `close`.
    public func drain(closingEachWith close: (Connection) async -> Void) async {
        shutdown()
        // Not a sleep in a loop: a cancelled task's sleep returns at once, and that loop would spin.
        await withCheckedContinuation { (drainer: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state in
                guard state.machine.statistics.leased > 0 else { return true }
                state.drainers.append(drainer)
                return false
            }
            if idle { drainer.resume() }
        }
        for connection in connections { await close(connection) }
    }

    /// The slots nobody holds now; after `shutdown()` they can be closed safely.
    public var idleSlots: [Int] {
        state.withLock { $0.machine.idleSlots }
    }

    private func giveUp(waiter: PoolStateMachine.WaiterID, with error: any Error) {
        let continuation: CheckedContinuation<Int, any Error>? = state.withLock { state in
            guard state.machine.cancel(waiter: waiter) else { return nil }
            if let continuation = state.continuations.removeValue(forKey: waiter) { return continuation }
            state.early[waiter] = .failure(error)
            return nil
        }
        continuation?.resume(throwing: error)
    }
}
