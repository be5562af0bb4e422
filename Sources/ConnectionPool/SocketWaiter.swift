import CEpoll
import Foundation
import Glibc
import Synchronization

/// Waits for sockets to become readable or writable without holding a thread per socket: one thread of
/// its own runs `epoll_wait` for every registered waiter and resumes the waiting task. Clients whose C
/// library works in non-blocking mode (libpq) make their calls on the calling task and suspend here only
/// for I/O, so no Swift cooperative thread ever blocks and no thread is woken per connection.
public final class SocketWaiter: Sendable {
    public enum Interest: Sendable {
        case read
        case write
        case readOrWrite
    }

    public enum Outcome: Sendable, Equatable {
        case ready
        case timedOut
    }

    /// The process-wide waiter.
    public static let shared = SocketWaiter()

    private struct Waiter {
        var continuation: CheckedContinuation<Outcome, Never>
        var deadline: ContinuousClock.Instant
    }

    private let epoll: Int32
    private let waiters = Mutex<[Int32: Waiter]>([:])

    private init() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed: errno \(errno)")
        let thread = Thread { [self] in self.loop() }
        thread.start()
    }

    /// Suspends until `descriptor` is ready for `interest` or `deadline` passes. A spurious `.ready` is
    /// possible; callers re-check their own state.
    public func wait(_ descriptor: Int32, for interest: Interest, until deadline: ContinuousClock.Instant) async -> Outcome {
        await withCheckedContinuation { continuation in
            let stale = waiters.withLock { $0.updateValue(Waiter(continuation: continuation, deadline: deadline), forKey: descriptor) }
            // One waiter per socket at a time: a leased connection has one caller.
            stale?.continuation.resume(returning: .ready)
            var event = epoll_event()
            let mask: UInt32 =
                switch interest {
                case .read: EPOLLIN.rawValue
                case .write: EPOLLOUT.rawValue
                case .readOrWrite: EPOLLIN.rawValue | EPOLLOUT.rawValue
                }
            event.events = mask | EPOLLONESHOT.rawValue | EPOLLRDHUP.rawValue
            event.data.fd = descriptor
            if epoll_ctl(epoll, EPOLL_CTL_MOD, descriptor, &event) != 0 {
                if epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event) != 0 {
                    // Not a pollable socket (closed under us): let the caller find out by trying.
                    resume(descriptor, with: .ready)
                }
            }
        }
    }

    /// Forgets a socket before it is closed, so its number can be reused safely.
    public func forget(_ descriptor: Int32) {
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil)
        resume(descriptor, with: .ready)
    }

    private func resume(_ descriptor: Int32, with outcome: Outcome) {
        let waiter = waiters.withLock { $0.removeValue(forKey: descriptor) }
        waiter?.continuation.resume(returning: outcome)
    }

    private func loop() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            // A short timeout bounds how late a deadline is noticed, without a wake-up channel.
            let idle = waiters.withLock { $0.isEmpty }
            let count = epoll_wait(epoll, &events, Int32(events.count), idle ? 200 : 20)
            if count > 0 {
                for index in 0..<Int(count) { resume(events[index].data.fd, with: .ready) }
            }
            let now = ContinuousClock.now
            let expired = waiters.withLock { waiters in
                let late = waiters.filter { $0.value.deadline <= now }
                for descriptor in late.keys { waiters.removeValue(forKey: descriptor) }
                return late.values.map(\.continuation)
            }
            for continuation in expired { continuation.resume(returning: .timedOut) }
        }
    }
}
