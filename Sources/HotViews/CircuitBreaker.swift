/// Whether to try Redis at all. Closed: every call goes through. After `failureThreshold` failures in a
/// row it opens: calls skip Redis (answers come from the replicas) for `openInterval`; then one call
/// probes (half-open), and its outcome closes the breaker or opens it again. Pure: time comes from the
/// caller, so every transition is unit-tested.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        /// One probe is out; everyone else keeps skipping until it reports.
        case halfOpen
    }

    public private(set) var state: State = .closed(failures: 0)
    public let failureThreshold: Int
    public let openInterval: Duration

    public init(failureThreshold: Int = 2, openInterval: Duration = .seconds(1)) {
        self.failureThreshold = max(1, failureThreshold)
        self.openInterval = openInterval
    }

    /// Whether this call may use Redis; an open breaker past its interval lets this one call probe.
    public mutating func allow(at now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed: return true
        case .halfOpen: return false
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen
            return true
        }
    }

    public mutating func recordSuccess() {
        state = .closed(failures: 0)
    }

    public mutating func recordFailure(at now: ContinuousClock.Instant) {
        switch state {
        case .closed(let failures) where failures + 1 < failureThreshold:
            state = .closed(failures: failures + 1)
        default:
            state = .open(until: now + openInterval)
        }
    }

    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }
}
