import Synchronization

/// Concurrent calls for one key share one execution: the first runs `body`, the others wait for its
/// result. The shared work runs in a task of its own, so one caller going away does not cancel it for
/// the others.
public final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Flight {
        let task: Task<Value, any Error>
        var callers: Int
    }

    private let flights = Mutex<[Key: Flight]>([:])

    public init() {}

    /// The result of the flight for `key`, and whether this call started it.
    public func run(_ key: Key, _ body: @escaping @Sendable () async throws -> Value) async throws -> (value: Value, leader: Bool) {
        let (task, leader) = flights.withLock { flights -> (Task<Value, any Error>, Bool) in
            if flights[key] != nil {
                flights[key]!.callers += 1
                return (flights[key]!.task, false)
            }
            let task = Task { try await body() }
            flights[key] = Flight(task: task, callers: 1)
            return (task, true)
        }
        defer {
            if leader { _ = flights.withLock { $0.removeValue(forKey: key) } }
        }
        return (try await task.value, leader)
    }

    /// Flights in progress (for tests and metrics).
    public var count: Int { flights.withLock { $0.count } }

    /// The calls sharing the flight for `key` now, its leader included; 0 when none is in progress.
    public func callers(of key: Key) -> Int { flights.withLock { $0[key]?.callers ?? 0 } }
}
