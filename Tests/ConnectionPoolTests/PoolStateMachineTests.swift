import ConnectionPool
import Testing

@Suite struct PoolStateMachineTests {
    @Test func leasesEverySlotOnceThenMakesCallersWait() {
        var machine = PoolStateMachine(size: 3)
        var slots: Set<PoolStateMachine.LeaseAction> = []
        for waiter in 1...3 { slots.insert(machine.lease(waiter: UInt64(waiter))) }
        #expect(slots == [.lease(slot: 0), .lease(slot: 1), .lease(slot: 2)])
        #expect(machine.lease(waiter: 4) == .wait)
        #expect(machine.statistics == .init(size: 3, leased: 3, idle: 0, waiting: 1))
    }

    @Test func releaseHandsTheSlotToTheLongestWaitingCallerFirst() {
        var machine = PoolStateMachine(size: 1)
        #expect(machine.lease(waiter: 1) == .lease(slot: 0))
        #expect(machine.lease(waiter: 2) == .wait)
        #expect(machine.lease(waiter: 3) == .wait)
        #expect(machine.release(slot: 0) == .resume(waiter: 2, slot: 0))
        #expect(machine.release(slot: 0) == .resume(waiter: 3, slot: 0))
        #expect(machine.release(slot: 0) == .idle)
        #expect(machine.statistics == .init(size: 1, leased: 0, idle: 1, waiting: 0))
    }

    @Test func aCancelledWaiterIsSkipped() {
        var machine = PoolStateMachine(size: 1)
        _ = machine.lease(waiter: 1)
        _ = machine.lease(waiter: 2)
        _ = machine.lease(waiter: 3)
        let cancelled = machine.cancel(waiter: 2)
        #expect(cancelled)
        #expect(machine.release(slot: 0) == .resume(waiter: 3, slot: 0))
    }

    @Test func cancellingAfterTheHandOverReportsThatTheSlotWasGiven() {
        var machine = PoolStateMachine(size: 1)
        _ = machine.lease(waiter: 1)
        _ = machine.lease(waiter: 2)
        #expect(machine.release(slot: 0) == .resume(waiter: 2, slot: 0))
        let cancelled = machine.cancel(waiter: 2)
        #expect(!cancelled)
        #expect(machine.statistics.leased == 1)
    }

    @Test func theMostRecentlyReleasedSlotIsReusedFirst() {
        var machine = PoolStateMachine(size: 3)
        _ = machine.lease(waiter: 1)
        _ = machine.lease(waiter: 2)
        #expect(machine.release(slot: 1) == .idle)
        #expect(machine.lease(waiter: 3) == .lease(slot: 1))
    }

    @Test func shutdownFailsWaitersAndLaterLeases() {
        var machine = PoolStateMachine(size: 1)
        _ = machine.lease(waiter: 1)
        _ = machine.lease(waiter: 2)
        _ = machine.lease(waiter: 3)
        _ = machine.cancel(waiter: 3)
        #expect(machine.shutdown() == [2])
        #expect(machine.lease(waiter: 4) == .fail)
        #expect(machine.release(slot: 0) == .idle)
        #expect(machine.idleSlots == [0])
    }

    @Test func manyWaitersAreServedInOrderAcrossCompaction() {
        var machine = PoolStateMachine(size: 1)
        _ = machine.lease(waiter: 0)
        for waiter in 1...500 { #expect(machine.lease(waiter: UInt64(waiter)) == .wait) }
        for waiter in 1...500 { #expect(machine.release(slot: 0) == .resume(waiter: UInt64(waiter), slot: 0)) }
        #expect(machine.release(slot: 0) == .idle)
    }
}
