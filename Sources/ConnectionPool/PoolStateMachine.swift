/// The decisions of a fixed-size pool of connection slots, kept free of I/O and locks so that
/// every transition can be unit-tested. The owner applies the returned actions.
public struct PoolStateMachine: Sendable {
    public typealias WaiterID = UInt64

    public enum LeaseAction: Hashable, Sendable {
        /// The caller owns this slot until it releases it.
        case lease(slot: Int)
        /// No slot is free; the caller waits under its waiter id.
        case wait
        /// The pool is shut down.
        case fail
    }

    public enum ReleaseAction: Equatable, Sendable {
        /// Hand the slot straight to the longest-waiting caller.
        case resume(waiter: WaiterID, slot: Int)
        /// The slot is idle again.
        case idle
    }

    public struct Statistics: Equatable, Sendable {
        public var size: Int
        public var leased: Int
        public var idle: Int
        public var waiting: Int

        public init(size: Int, leased: Int, idle: Int, waiting: Int) {
            self.size = size
            self.leased = leased
            self.idle = idle
            self.waiting = waiting
        }
    }

    private var idle: [Int]
    private var leased: Set<Int> = []
    private var waiters: [WaiterID] = []
    private var waiterHead = 0
    private var waiting: Set<WaiterID> = []
    private(set) public var isShutDown = false
    public let size: Int

    public init(size: Int) {
        precondition(size > 0, "a pool needs at least one slot")
        self.size = size
        // Popped from the end, so slot 0 is used first and the most recently used slot is reused (warm connections).
        self.idle = Array((0..<size).reversed())
    }

    public var statistics: Statistics {
        Statistics(size: size, leased: leased.count, idle: idle.count, waiting: waiting.count)
    }

    /// A caller asks for a slot; `waiter` identifies it should it have to wait.
    public mutating func lease(waiter: WaiterID) -> LeaseAction {
        if isShutDown { return .fail }
        if let slot = idle.popLast() {
            leased.insert(slot)
            return .lease(slot: slot)
        }
        waiters.append(waiter)
        waiting.insert(waiter)
        return .wait
    }

    public mutating func release(slot: Int) -> ReleaseAction {
        precondition(leased.contains(slot), "slot \(slot) released but not leased")
        while waiterHead < waiters.count {
            let waiter = waiters[waiterHead]
            waiterHead += 1
            compactWaitersIfNeeded()
            if waiting.remove(waiter) != nil {
                return .resume(waiter: waiter, slot: slot)
            }
        }
        leased.remove(slot)
        idle.append(slot)
        return .idle
    }

    /// A waiter gave up (timeout or cancellation). Returns false when it is no longer waiting,
    /// because a slot was already handed to it.
    public mutating func cancel(waiter: WaiterID) -> Bool {
        waiting.remove(waiter) != nil
    }

    /// Stops leasing; returns the waiters to fail. Leased slots come back through `release`.
    public mutating func shutdown() -> [WaiterID] {
        isShutDown = true
        let failed = waiters[waiterHead...].filter { waiting.contains($0) }
        waiters.removeAll()
        waiterHead = 0
        waiting.removeAll()
        return failed
    }

    /// Slots that are idle now; after shutdown, these are the ones safe to close.
    public var idleSlots: [Int] { idle }

    private mutating func compactWaitersIfNeeded() {
        if waiterHead > 64 && waiterHead * 2 > waiters.count {
            waiters.removeFirst(waiterHead)
            waiterHead = 0
        }
    }
}
