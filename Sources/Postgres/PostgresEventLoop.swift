import CEpoll
import CLibPQ
import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The client's own event loops for reads: each one thread that owns a few libpq connections per database
/// node in pipeline mode, waits for all of their sockets and for new work in one `epoll_wait`, and makes
/// every libpq call for them itself. A read is one message to a loop; the loop sends it on the least busy
/// connection without waiting for the reads before it (Bind/Execute/Sync, one sync per read, so a failing
/// statement fails only its own read), matches the answers in order, and resumes the reading task. Under
/// load one wake-up of a loop serves every read that arrived meanwhile, and one `recv` every answer that
/// came in one packet. Transactions, appends and scripts never come here: they lease an exclusive
/// connection from the pool.
///
/// @unchecked Sendable: `inbox` is a Mutex; every other stored property, and every `PipelinedConnection`
/// and `PipelineSet` the loop holds, is touched only on the loop's own thread (inside `run`).
final class PostgresEventLoop: @unchecked Sendable {
    /// One loop per two cores (at least one), or CATALOG_POSTGRES_LOOPS (1 to 64). A loop spends about a
    /// fifth of a read's CPU (bench/reads: 21 of 106 us), so half as many loops as NIO's suffice; on two
    /// cores one loop gave more reads per second and a third of the p99 of two (14 ms against 20-60 ms).
    static let all: [PostgresEventLoop] = {
        let configured = ProcessInfo.processInfo.environment["CATALOG_POSTGRES_LOOPS"].flatMap { Int($0) }.flatMap {
            (1...64).contains($0) ? $0 : nil
        }
        return (0..<(configured ?? max(1, ProcessInfo.processInfo.activeProcessorCount / 2))).map { PostgresEventLoop(index: $0) }
    }()
    private static let nextIndex = Atomic<Int>(0)

    private static let byEventLoop = Mutex<[ObjectIdentifier: Int]>([:])

    /// The loop for a read from a task on `origin`: each NIO event loop keeps to one of ours (so that
    /// its reads travel together); reads from elsewhere go round robin.
    static func index(for origin: (any EventLoop)?) -> Int {
        guard all.count > 1 else { return 0 }
        guard let origin else { return nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue % all.count }
        let key = ObjectIdentifier(origin)
        return byEventLoop.withLock { known in
            if let index = known[key] { return index }
            let index = known.count % all.count
            known[key] = index
            return index
        }
    }

    enum Message {
        case read(PipelinedRead, PipelineSet)
        case connected(PipelinedConnection, Result<NewConnection, PostgresError>)
        case shutdown(PipelineSet)
    }

    private struct Inbox {
        var messages: [Message] = []
        /// The loop is (about to be) blocked in epoll_wait: the next message must write the eventfd.
        var sleeping = false
    }

    private let inbox = Mutex(Inbox())
    private let epoll: Int32
    private let wakeDescriptor: Int32
    private let connectQueue: DispatchQueue
    // Loop-thread state.
    private var connections: [Int: PipelinedConnection] = [:]
    /// Connections being opened, whose waiting reads have deadlines too.
    private var opening: [ObjectIdentifier: PipelinedConnection] = [:]
    private var nextConnectionID = 1
    private var ready: [PipelinedConnection] = []
    /// Answers of this turn, by the event loop their task is resumed on.
    private var answers: [ObjectIdentifier: (loop: any EventLoop, answers: [Answer])] = [:]

    private struct Answer: Sendable {
        let continuation: UnsafeContinuation<Result<PostgresRows, PostgresError>, Never>
        let outcome: Result<PostgresRows, PostgresError>
    }

    private init(index: Int) {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed: errno \(errno)")
        wakeDescriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(wakeDescriptor >= 0, "eventfd failed: errno \(errno)")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = 0
        precondition(epoll_ctl(epoll, EPOLL_CTL_ADD, wakeDescriptor, &event) == 0, "epoll_ctl failed: errno \(errno)")
        // Connecting blocks (DNS, TCP, authentication): it happens here, never on the loop.
        connectQueue = DispatchQueue(label: "postgres.loop.\(index).connect", attributes: .concurrent)
        let thread = Thread { [self] in self.run() }
        thread.name = "postgres-loop-\(index)"
        thread.start()
    }

    /// Hands `message` to the loop, waking it only when it sleeps.
    func submit(_ message: sending Message) {
        let wake = inbox.withLock { inbox in
            inbox.messages.append(message)
            guard inbox.sleeping else { return false }
            inbox.sleeping = false
            return true
        }
        if wake {
            var one: UInt64 = 1
            _ = write(wakeDescriptor, &one, 8)
        }
    }

    // MARK: - the loop's thread

    private func run() {
        // SCHED_BATCH (3; Glibc's module does not export the name): the loop's wake-ups no longer preempt
        // the NIO event loops serving HTTP; it runs when they yield or their slice ends, and then finds more
        // answers and reads per turn. bench/reads on two cores, three alternating runs: NIO loops preempted
        // 0.25 instead of 0.47 times per read, the loop's sleeps per read 0.06 instead of 0.21, its CPU per
        // read 8 instead of 11-12 us, PostgreSQL's context switches per read 0.23 instead of 0.32, and
        // 20,700-21,400 instead of 19,100-20,000 reads per second.
        var policy = sched_param()
        _ = sched_setscheduler(0, 3, &policy)
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        var batch: [Message] = []
        while true {
            inbox.withLock { swap(&$0.messages, &batch) }
            for message in batch { handle(message) }
            batch.removeAll(keepingCapacity: true)
            flushReady()
            deliverAnswers()
            // Sleep only when no message came in while handling the last ones.
            let timeout = inbox.withLock { inbox -> Int32 in
                guard inbox.messages.isEmpty else { return 0 }
                inbox.sleeping = true
                return nextTimeout()
            }
            let count = epoll_wait(epoll, &events, Int32(events.count), timeout)
            inbox.withLock { $0.sleeping = false }
            if count > 0 {
                for event in events[0..<Int(count)] {
                    let id = Int(event.data.u64)
                    if id == 0 {
                        var value: UInt64 = 0
                        _ = read(wakeDescriptor, &value, 8)
                    } else if let connection = connections[id] {
                        connection.socketReady(
                            readable: event.events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0,
                            writable: event.events & EPOLLOUT.rawValue != 0
                        )
                    }
                }
            }
            expireDeadlines()
            deliverAnswers()
        }
    }

    /// Resumes the reading tasks of this turn, on the event loops they ran on: one hand-off per loop and
    /// turn however many reads it answers, and each task goes on where its HTTP connection lives.
    private func deliverAnswers() {
        guard !answers.isEmpty else { return }
        for (_, entry) in answers {
            let batch = entry.answers
            entry.loop.execute {
                for answer in batch { answer.continuation.resume(returning: answer.outcome) }
            }
        }
        answers.removeAll(keepingCapacity: true)
    }

    private func handle(_ message: Message) {
        switch message {
        case .read(let read, let set):
            guard !set.isShutDown else {
                complete(read, .failure(PostgresError(code: .shutDown)))
                return
            }
            set.choose().enqueue(read)
        case .connected(let connection, let outcome):
            opening.removeValue(forKey: ObjectIdentifier(connection))
            connection.connected(outcome)
        case .shutdown(let set):
            set.isShutDown = true
            for connection in set.connections {
                connection.isShutDown = true
                connection.closeIfIdleAfterShutdown()
            }
        }
    }

    /// Flushes every connection that sent this turn. A flush may take answers and so send skipped
    /// reads again, which asks for another flush: those are flushed too before the loop sleeps.
    private func flushReady() {
        while !ready.isEmpty {
            let batch = ready
            ready.removeAll(keepingCapacity: true)
            for connection in batch { connection.flush() }
        }
    }

    /// Milliseconds until the earliest deadline of a read in flight or waiting for a connection to open,
    /// -1 when none.
    private func nextTimeout() -> Int32 {
        var earliest = connections.values.lazy.compactMap(\.headDeadline).min()
        if let opened = opening.values.lazy.compactMap(\.headDeadline).min(), earliest.map({ opened < $0 }) ?? true { earliest = opened }
        guard let earliest else { return -1 }
        let left = earliest - ContinuousClock.now
        return left <= .zero ? 0 : Int32(min(left.milliseconds + 1, 60_000))
    }

    private func expireDeadlines() {
        let now = ContinuousClock.now
        // Each loop walks a copy of its dictionary, so a connection closed on the way does no harm.
        for connection in connections.values {
            if let deadline = connection.headDeadline, deadline <= now { connection.timedOut(now: now) }
        }
        for connection in opening.values {
            if let deadline = connection.headDeadline, deadline <= now { connection.timedOut(now: now) }
        }
    }

    // MARK: - for connections, on the loop's thread

    /// Ends `read` with `outcome`: its task is resumed at the end of this turn, on its own event loop.
    func complete(_ read: PipelinedRead, _ outcome: Result<PostgresRows, PostgresError>) {
        guard let origin = read.origin else {
            read.continuation.resume(returning: outcome)
            return
        }
        answers[ObjectIdentifier(origin), default: (origin, [])].answers.append(Answer(continuation: read.continuation, outcome: outcome))
    }

    func register(_ connection: PipelinedConnection, socket: Int32) -> Int {
        let id = nextConnectionID
        nextConnectionID += 1
        connections[id] = connection
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        event.data.u64 = UInt64(id)
        _ = epoll_ctl(epoll, EPOLL_CTL_ADD, socket, &event)
        return id
    }

    func unregister(id: Int, socket: Int32) {
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, socket, nil)
        connections.removeValue(forKey: id)
    }

    func watchWritable(_ writable: Bool, id: Int, socket: Int32) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | (writable ? EPOLLOUT.rawValue : 0)
        event.data.u64 = UInt64(id)
        _ = epoll_ctl(epoll, EPOLL_CTL_MOD, socket, &event)
    }

    /// Asks for a flush of `connection` once every message of this turn is handled, so that reads that
    /// arrived together leave together.
    func needsFlush(_ connection: PipelinedConnection) {
        ready.append(connection)
    }

    /// Opens a connection off the loop; the outcome comes back as a message.
    func connect(_ connection: PipelinedConnection, settings: ConnectionSettings, logger: Logger) {
        opening[ObjectIdentifier(connection)] = connection
        connectQueue.async { [self] in
            let outcome = NewConnection.open(settings, logger: logger)
            submit(.connected(connection, outcome))
        }
    }
}
