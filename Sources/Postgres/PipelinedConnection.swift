import CLibPQ
import Glibc
import Logging
import NIOCore

/// One read waiting for its answer: the statement, the task to resume, and when to give up.
///
/// A class, not a struct: a read travels from its task to the loop's inbox, to its connection's queue and
/// back to its event loop, and each move of a struct copied (retained and later released) every reference
/// in it, the SQL text, the binds, the continuation and the event loop; now it is one reference.
final class PipelinedRead: Sendable {
    let query: PostgresQuery
    /// Resumed exactly once: by `PostgresEventLoop.complete` (through `deliverAnswers`) when the read
    /// ends, whichever way it ends. Unsafe rather than checked: the checked one allocates and checks on
    /// every read what this one invariant guarantees.
    let continuation: UnsafeContinuation<Result<PostgresRows, PostgresError>, Never>
    let deadline: ContinuousClock.Instant
    /// The NIO event loop the reading task ran on, where it is resumed (nil when it ran elsewhere).
    let origin: (any EventLoop)?
    /// Sent again once already (after its connection broke, or its prepared statement went away).
    let isRetry: Bool
    /// Goes out with a Sync of its own: it was skipped once because another read of its group failed.
    let isAlone: Bool

    init(
        query: PostgresQuery,
        continuation: UnsafeContinuation<Result<PostgresRows, PostgresError>, Never>,
        deadline: ContinuousClock.Instant,
        origin: (any EventLoop)?,
        isRetry: Bool = false,
        isAlone: Bool = false
    ) {
        self.query = query
        self.continuation = continuation
        self.deadline = deadline
        self.origin = origin
        self.isRetry = isRetry
        self.isAlone = isAlone
    }

    /// The same read, marked as sent again.
    func retried() -> PipelinedRead {
        PipelinedRead(query: query, continuation: continuation, deadline: deadline, origin: origin, isRetry: true, isAlone: isAlone)
    }

    /// The same read, to be sent in a sync group of its own (itself when it is already).
    func alone() -> PipelinedRead {
        if isAlone { return self }
        return PipelinedRead(query: query, continuation: continuation, deadline: deadline, origin: origin, isRetry: isRetry, isAlone: true)
    }
}

/// One client's pipelined connections on one loop.
///
/// @unchecked Sendable: created by the client, then touched only on its loop's thread (messages carry it there).
final class PipelineSet: @unchecked Sendable {
    let connections: [PipelinedConnection]
    var isShutDown = false
    /// Reads in flight on the first connection before the next takes any.
    static let deep = 32

    init(loop: PostgresEventLoop, size: Int, settings: ConnectionSettings, logger: Logger) {
        connections = (0..<size).map { _ in PipelinedConnection(loop: loop, settings: settings, logger: logger) }
    }

    /// The connection for the next read: the first open one while it has fewer than `deep` reads in
    /// flight and its oldest has not waited long; else the least busy, which opens a second connection
    /// when the reads pile up or when the oldest read on every open one has waited long (a slow statement
    /// there would hold up every read pipelined behind it).
    ///
    /// Filling the first connection rather than spreading reads evenly over all open ones keeps the reads
    /// of a turn together on one server backend: it wakes once for all of them. bench/reads, four
    /// alternating runs: PostgreSQL's context switches per read 0.09-0.10 instead of 0.20-0.22, its CPU per
    /// read 34-36 instead of 39-55 us, more reads per second in every run.
    func choose() -> PipelinedConnection {
        let now = ContinuousClock.now
        for connection in connections where connection.isOpen && connection.load(now: now) < Self.deep { return connection }
        var best = connections[0]
        var bestScore = Int.max
        for connection in connections {
            let score = connection.load(now: now)
            if score < bestScore {
                best = connection
                bestScore = score
            }
        }
        return best
    }
}

/// A libpq connection in pipeline mode, owned by one `PostgresEventLoop` and used only on its thread.
///
/// One Sync per loop turn: the reads sent on the connection in one turn of its loop go out together,
/// ended by a single Sync, so the server runs them in one implicit transaction and answers them with one
/// ReadyForQuery and, mostly, one packet. A statement that fails makes the server skip the rest of its
/// group (PGRES_PIPELINE_ABORTED): the failing read gets its own error, and each skipped read, which did
/// not run, is sent again with a Sync of its own, so a failure still touches no other read. Against a Sync per
/// read (libpq 15 sends at each PQpipelineSync): bench/reads, two alternating pairs, 0.54-0.55 instead of
/// 0.46-0.49 of the bare server, the client alone 55,000-66,000 instead of 37,000-38,000 reads/s.
///
/// @unchecked Sendable: touched only on its loop's thread; messages and the connecting queue carry the
/// reference there and back without using it.
final class PipelinedConnection: @unchecked Sendable {
    private enum State {
        case closed
        case connecting
        case open(OpaquePointer, id: Int, socket: Int32)
    }

    /// Reads sent but not answered, oldest first.
    private struct Sent {
        var read: PipelinedRead
        var sentAt: ContinuousClock.Instant
        /// The statement this read prepared on the way (its Parse went first, in the same sync group).
        var preparing: PreparedStatementKey?
    }

    private unowned let loop: PostgresEventLoop
    private let settings: ConnectionSettings
    private let logger: Logger
    private var state = State.closed
    private var waiting: [PipelinedRead] = []
    private var sent: [Sent] = []
    private var sentHead = 0
    // The answer of the oldest read so far.
    private var rows: PostgresRows?
    private var failure: PostgresError?
    /// Results of the oldest read so far, and whether its Parse (when it prepared) failed.
    private var headResults = 0
    private var headParseFailed = false
    /// The oldest read's steps (its Parse, its statement) whose results have ended (each ends with a NULL).
    private var headStepsEnded = 0
    /// The oldest read was skipped because an earlier statement of its sync group failed: it did not run.
    private var headSkipped = false
    /// Syncs sent whose PGRES_PIPELINE_SYNC has not come back; reads sent since the last sync.
    private var syncsInFlight = 0
    private var unsynced = 0
    /// After a plan went stale (0A000) the connection's old statements are useless: it is closed once
    /// idle rather than left holding them.
    private var retiring = false
    private var prepared: [PreparedStatementKey: String] = [:]
    private var statements = 0
    private var watchingWritable = false
    private var flushQueued = false
    /// Its client shut down: no new reads come, and the connection closes when the last one is answered.
    var isShutDown = false
    private static let maximumPrepared = 512
    /// The protocol counts binds in 16 bits; libpq refuses more without touching the connection.
    private static let maximumBinds = 65_535
    /// A read older than this on an open connection makes the chooser open or use another.
    private static let stallAfter: Duration = .milliseconds(50)

    init(loop: PostgresEventLoop, settings: ConnectionSettings, logger: Logger) {
        self.loop = loop
        self.settings = settings
        self.logger = logger
    }

    private var inFlight: Int { sent.count - sentHead }

    /// Connected, whatever its load.
    var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    /// How busy the connection is, lower is better (see `PipelineSet.choose`).
    func load(now: ContinuousClock.Instant) -> Int {
        switch state {
        case .closed: return 16
        case .connecting: return 4 + waiting.count
        case .open:
            let retirement = retiring ? 500 : 0
            guard inFlight > 0 else { return retirement }
            return retirement + inFlight + (now - sent[sentHead].sentAt > Self.stallAfter ? 1_000 : 0)
        }
    }

    /// When the oldest read in flight, or the first read waiting for the connection to open, gives up.
    var headDeadline: ContinuousClock.Instant? {
        let sentDeadline = inFlight > 0 ? sent[sentHead].read.deadline : nil
        guard let waitingDeadline = waiting.lazy.map(\.deadline).min() else { return sentDeadline }
        return sentDeadline.map { min($0, waitingDeadline) } ?? waitingDeadline
    }

    func enqueue(_ read: PipelinedRead) {
        switch state {
        case .closed:
            waiting.append(read)
            state = .connecting
            loop.connect(self, settings: settings, logger: logger)
        case .connecting:
            waiting.append(read)
        case .open(let connection, _, _):
            send(read, on: connection)
        }
    }

    func connected(_ outcome: Result<NewConnection, PostgresError>) {
        let reads = waiting
        waiting.removeAll()
        switch outcome {
        case .failure(let error):
            state = .closed
            for read in reads { loop.complete(read, .failure(error)) }
        case .success(let made):
            let connection = made.pointer
            guard PQenterPipelineMode(connection) == 1 else {
                PQfinish(connection)
                state = .closed
                let error = PostgresError(code: .connectionFailed, message: "cannot enter pipeline mode")
                for read in reads { loop.complete(read, .failure(error)) }
                return
            }
            let socket = PQsocket(connection)
            let id = loop.register(self, socket: socket)
            state = .open(connection, id: id, socket: socket)
            // Through enqueue, which looks at the state afresh: a send that breaks the connection
            // sends the rest of them on a new one.
            for read in reads { enqueue(read) }
            closeIfIdleAfterShutdown()
        }
    }

    /// Queues the read's messages in libpq's buffer (Parse the first time this statement is used here,
    /// then Bind, Describe and Execute); the loop's flush ends the turn's reads with one Sync and sends
    /// them. A read sent alone gets a Sync before and after it at once.
    private func send(_ read: PipelinedRead, on connection: OpaquePointer) {
        guard read.deadline > ContinuousClock.now else {
            loop.complete(read, .failure(PostgresError(code: .timeout, message: "no answer within \(settings.queryTimeout)")))
            return
        }
        let query = read.query
        let binds: CBinds
        do {
            binds = try CBinds(query.binds)
        } catch {
            loop.complete(read, .failure(error))
            return
        }
        guard query.binds.count <= Self.maximumBinds else {
            loop.complete(read, .failure(PostgresError(code: .invalidBind, message: "more than \(Self.maximumBinds) binds")))
            return
        }
        // A read sent alone starts a group of its own: the reads queued before it get their Sync first.
        if read.isAlone && unsynced > 0 && !sync(connection) {
            enqueue(read)  // the connection broke: the read waits for the next one
            return
        }
        let key = PreparedStatementKey(query)
        var preparing: PreparedStatementKey?
        let name: String?
        if let known = prepared[key] {
            name = known
        } else if query.binds.isEmpty || prepared.count >= Self.maximumPrepared {
            // Statements without binds (SQL text that may be unique each time) and any beyond the
            // cache's bound go as the unnamed statement, which the server replaces rather than keeps.
            name = nil
        } else {
            statements += 1
            let types = query.binds.map(\.oid)
            let named = "catalog_p\(statements)"
            guard types.withUnsafeBufferPointer({ PQsendPrepare(connection, named, query.sql, Int32(types.count), $0.baseAddress) }) == 1 else {
                broken(failing: read)
                return
            }
            prepared[key] = named
            preparing = key
            name = named
        }
        let queued = binds.withArrays { types, values, lengths, formats in
            if let name {
                PQsendQueryPrepared(connection, name, Int32(query.binds.count), values, lengths, formats, 0)
            } else {
                PQsendQueryParams(connection, query.sql, Int32(query.binds.count), types, values, lengths, formats, 0)
            }
        }
        guard queued == 1 else {
            broken(failing: read)
            return
        }
        sent.append(Sent(read: read, sentAt: ContinuousClock.now, preparing: preparing))
        unsynced += 1
        if read.isAlone && !sync(connection) { return }
        if !flushQueued {
            flushQueued = true
            loop.needsFlush(self)
        }
    }

    /// Ends the reads sent since the last sync with one; false when that broke the connection.
    private func sync(_ connection: OpaquePointer) -> Bool {
        guard unsynced > 0 else { return true }
        guard PQpipelineSync(connection) == 1 else {
            broken()
            return false
        }
        unsynced = 0
        syncsInFlight += 1
        return true
    }

    func flush() {
        flushQueued = false
        guard case .open(let connection, let id, let socket) = state else { return }
        guard sync(connection) else { return }
        let pending = PQflush(connection)
        if pending < 0 {
            broken()
            return
        }
        let wantsWritable = pending == 1
        if wantsWritable != watchingWritable {
            watchingWritable = wantsWritable
            loop.watchWritable(wantsWritable, id: id, socket: socket)
        }
        // When a send would block, libpq reads what the server sent meanwhile into its own buffer (so
        // that neither side waits on the other); the socket then has nothing left to wake the loop for.
        // Take those answers now, or they wait until the reads' deadline.
        collect(connection)
    }

    func socketReady(readable: Bool, writable: Bool) {
        if writable { flush() }
        // flush may have found the connection broken and closed it.
        guard readable, case .open(let connection, _, _) = state else { return }
        guard PQconsumeInput(connection) == 1 else {
            broken()
            return
        }
        collect(connection)
    }

    /// Takes every complete answer libpq has parsed, in order. One read's answer is its steps' results,
    /// each step (the Parse when it prepared, then its statement) ending with a NULL; a sync's result
    /// follows the last read of its group.
    private func collect(_ connection: OpaquePointer) {
        var emptyTurns = 0
        // A read sent again from finishHead may break and close the connection: look before each call.
        while inFlight > 0 || syncsInFlight > 0, isOpen(connection) {
            guard PQisBusy(connection) == 0 else { break }
            guard let result = PQgetResult(connection) else {
                // One NULL ends each step's results; two in a row (or one with no read in flight) mean
                // libpq and this connection disagree on what is in flight.
                emptyTurns += 1
                guard emptyTurns == 1, inFlight > 0 else {
                    broken(PostgresError(code: .connectionLost, message: "the pipeline is out of step with the server"))
                    return
                }
                headStepsEnded += 1
                if headStepsEnded == (sent[sentHead].preparing == nil ? 1 : 2) { finishHead() }
                continue
            }
            emptyTurns = 0
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_PIPELINE_SYNC:
                guard syncsInFlight > 0, headResults == 0 else {
                    broken(PostgresError(code: .connectionLost, message: "the pipeline is out of step with the server"))
                    return
                }
                syncsInFlight -= 1
                continue
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                if failure == nil { rows = PostgresRows(copying: result) }
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                if failure == nil { failure = PostgresConnection.serverError(result) }
                if headResults == 0 && sent[sentHead].preparing != nil { headParseFailed = true }
            case PGRES_PIPELINE_ABORTED:
                // Skipped: an earlier statement of this sync group failed (this read's own Parse, or
                // another read's statement). A skipped Parse left no statement behind.
                if headResults == 0 && sent[sentHead].preparing != nil { headParseFailed = true }
                if failure == nil { headSkipped = true }
            default:
                if failure == nil { failure = PostgresError(code: .server, message: "unsupported result status \(PQresultStatus(result).rawValue)") }
            }
            headResults += 1
        }
        guard isOpen(connection) else { return }
        if PQstatus(connection) != CONNECTION_OK {
            broken()
        } else if inFlight == 0 && syncsInFlight == 0 {
            closeIfIdleAfterShutdown()
        }
    }

    private func isOpen(_ connection: OpaquePointer) -> Bool {
        if case .open(let current, _, _) = state, current == connection { return true }
        return false
    }

    private func finishHead() {
        let head = sent[sentHead]
        sentHead += 1
        if sentHead == sent.count {
            sent.removeAll(keepingCapacity: true)
            sentHead = 0
        } else if sentHead >= 64 && sentHead * 2 >= sent.count {
            sent.removeFirst(sentHead)
            sentHead = 0
        }
        let outcome = rows
        let error = failure
        let parseFailed = headParseFailed
        let skipped = headSkipped
        rows = nil
        failure = nil
        headResults = 0
        headParseFailed = false
        headStepsEnded = 0
        headSkipped = false
        if parseFailed, let key = head.preparing { prepared.removeValue(forKey: key) }
        if skipped && error == nil {
            // It did not run: send it again (not a retry: the failure was another read's), alone, so
            // that another failure cannot skip it twice. Sent back into a group, the reads behind each
            // failure would go round again and again: with many failing statements in flight, a group
            // finishes only up to its first failure per round trip (seen: reads past their deadline).
            enqueue(head.read.alone())
            return
        }
        guard let error else {
            loop.complete(head.read, .success(outcome ?? .empty))
            return
        }
        // Only a failed or skipped Parse leaves no statement behind; after a failed Bind or Execute it exists.
        if error.sqlState == "0A000" || error.sqlState == "26000" {
            // "cached plan must not change result type" after a schema change, or a statement the server
            // no longer knows: prepare afresh (under a new name), run the read once more, and close the
            // connection once idle so that the stale statements go with it.
            prepared.removeAll()
            retiring = true
            if sendAgain(head.read) { return }
        }
        loop.complete(head.read, .failure(error))
    }

    /// Sends a read once more (on this connection, or a new one when it is closed), unless it was sent
    /// again already; false then, and the caller ends it.
    private func sendAgain(_ read: PipelinedRead) -> Bool {
        guard !read.isRetry else { return false }
        enqueue(read.retried())
        return true
    }

    /// The oldest read's deadline passed: the server's state is unknown, so every read in flight here
    /// fails and the connection is closed; the next read opens a new one.
    func timedOut(now: ContinuousClock.Instant) {
        let error = PostgresError(code: .timeout, message: "no answer within \(settings.queryTimeout)")
        // Reads waiting for the connection to open: those past their deadline end, the others wait on.
        if waiting.contains(where: { $0.deadline <= now }) {
            for read in waiting where read.deadline <= now { loop.complete(read, .failure(error)) }
            waiting.removeAll { $0.deadline <= now }
        }
        if inFlight > 0, sent[sentHead].read.deadline <= now { broken(error, retry: false) }
    }

    private func broken(failing read: PipelinedRead) {
        broken()
        if !sendAgain(read) {
            loop.complete(read, .failure(PostgresError(code: .connectionLost, message: "the connection to the server broke")))
        }
    }

    /// Closes the connection and ends every read in flight on it. Reads are read-only statements, so one
    /// that broke with its connection is sent once more on a fresh one (a server restart or an idle
    /// connection the server closed costs no error); a timeout is not retried.
    private func broken(_ error: PostgresError? = nil, retry: Bool = true) {
        var error = error
        if error == nil, case .open(let connection, _, _) = state {
            error = PostgresError(code: .connectionLost, message: PostgresConnection.firstLine(String(cString: PQerrorMessage(connection))))
        }
        let reads = sent[sentHead...].map(\.read)
        close()
        let failed = error ?? PostgresError(code: .connectionLost, message: "the server closed the connection")
        for read in reads {
            if retry && sendAgain(read) { continue }
            loop.complete(read, .failure(failed))
        }
    }

    /// After the client shut down, or once a retiring connection is idle, closes it.
    func closeIfIdleAfterShutdown() {
        guard isShutDown || retiring, inFlight == 0, syncsInFlight == 0, waiting.isEmpty, case .open = state else { return }
        close()
    }

    /// Closes the server connection and forgets everything about it; reads in flight are the caller's.
    private func close() {
        if case .open(let connection, let id, let socket) = state {
            loop.unregister(id: id, socket: socket)
            PQfinish(connection)
        }
        state = .closed
        watchingWritable = false
        retiring = false
        headResults = 0
        headParseFailed = false
        headStepsEnded = 0
        headSkipped = false
        syncsInFlight = 0
        unsynced = 0
        prepared.removeAll()
        sent.removeAll()
        sentHead = 0
        rows = nil
        failure = nil
    }
}
