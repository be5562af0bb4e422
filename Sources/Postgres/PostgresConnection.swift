import CLibPQ
import ConnectionPool
import Foundation
import Logging

/// One libpq connection, in non-blocking mode. Statements are sent and results read on the calling task
/// (those libpq calls never block); waiting for the socket suspends on the shared `SocketWaiter`, so no
/// thread is held per connection. Connecting, which libpq does with blocking calls, runs on a dispatch
/// queue of its own. It connects lazily and reconnects after the server went away, so a pooled
/// connection heals itself once the server is back.
public actor PostgresConnection {
    private let connectQueue: DispatchQueue
    private let settings: ConnectionSettings
    private let logger: Logger
    private var connection: OpaquePointer?
    private var currentLease: UInt64 = 0
    /// Statements with binds are prepared once per connection and then only bound and executed, which
    /// spares the server a parse and a plan on every call. Keyed by the `PostgresStatement` a query came
    /// from, else by SQL text and bind types.
    private var prepared: [PreparedStatementKey: String] = [:]
    private static let maximumPrepared = 512
    /// Whether this session runs with `plan_cache_mode = force_generic_plan`, set outside any transaction
    /// by the last statement with binds that asked for a `.generic` plan, reset by the next that did not.
    private var forcesGenericPlans = false

    init(settings: ConnectionSettings, label: String, logger: Logger) {
        self.connectQueue = DispatchQueue(label: label)
        self.settings = settings
        self.logger = logger
    }

    isolated deinit {
        if let connection { PQfinish(connection) }
    }

    /// Runs one statement over the extended protocol: the SQL text and each bind travel separately.
    /// `lease` identifies the caller's checkout; the first statement of a new lease checks that the
    /// connection is alive and not left inside someone else's transaction.
    /// How long after the server's statement_timeout the client gives up on its own: the server's
    /// cancellation (with its SQLSTATE) should arrive first even on a loaded machine.
    static let clientDeadlineMargin: Duration = .seconds(2)

    func execute(_ query: PostgresQuery, lease: UInt64, isRetry: Bool = false) async throws(PostgresError) -> PostgresRows {
        let isFirstOfLease = lease != currentLease
        if isFirstOfLease {
            currentLease = lease
            dropIfUnusable()
        }
        let binds = try CBinds(query.binds)
        let deadline = ContinuousClock.now + settings.queryTimeout + Self.clientDeadlineMargin
        let connection = try await connected()
        // A plan choice is a session setting, changed only outside a transaction (inside one, a rollback
        // would undo it unseen); it matters only for statements with binds. One round trip when it changes.
        if !query.binds.isEmpty, (query.plan == .generic) != forcesGenericPlans, PQtransactionStatus(connection) == PQTRANS_IDLE {
            try await run(
                forcesGenericPlans ? "RESET plan_cache_mode" : "SET plan_cache_mode = force_generic_plan",
                on: connection,
                deadline: deadline
            )
            forcesGenericPlans.toggle()
        }
        let statement = query.binds.isEmpty ? nil : try await preparedName(for: query, on: connection, deadline: deadline)
        let sent = binds.withArrays { types, values, lengths, formats in
            if let statement {
                PQsendQueryPrepared(connection, statement, Int32(query.binds.count), values, lengths, formats, 0)
            } else {
                PQsendQueryParams(connection, query.sql, Int32(query.binds.count), types, values, lengths, formats, 0)
            }
        }
        guard sent == 1 else {
            // Nothing reached the server, so the statement did not run; a fresh lease may reconnect and retry once.
            let error = connectionError(connection, code: .connectionLost)
            close()
            if isFirstOfLease && !isRetry {
                currentLease = 0
                return try await execute(query, lease: lease, isRetry: true)
            }
            throw error
        }
        let outcome: Result<PostgresRows, PostgresError>
        do {
            outcome = .success(try await collect(connection, deadline: deadline))
        } catch {
            outcome = .failure(error)
        }
        if case .failure(let error) = outcome, statement != nil, error.sqlState == "0A000" || error.sqlState == "26000" {
            // "cached plan must not change result type" after a schema change, or a statement the server
            // no longer knows: prepare afresh next time.
            prepared.removeAll()
            _ = try? await run("DEALLOCATE ALL", on: connection, deadline: deadline)
            // Outside a transaction the refused statement did not run, so running it again is safe.
            if !isRetry && self.connection != nil && PQtransactionStatus(connection) == PQTRANS_IDLE {
                return try await execute(query, lease: lease, isRetry: true)
            }
        }
        return try outcome.get()
    }

    /// The name of the statement prepared for this query on this connection, preparing it first if needed.
    private func preparedName(
        for query: PostgresQuery,
        on connection: OpaquePointer,
        deadline: ContinuousClock.Instant
    ) async throws(PostgresError) -> String {
        let key = PreparedStatementKey(query)
        if let name = prepared[key] { return name }
        if prepared.count >= Self.maximumPrepared {
            try await run("DEALLOCATE ALL", on: connection, deadline: deadline)
            prepared.removeAll()
        }
        let name = "catalog_\(prepared.count + 1)"
        let types = query.binds.map(\.oid)
        let sent = types.withUnsafeBufferPointer { PQsendPrepare(connection, name, query.sql, Int32(types.count), $0.baseAddress) }
        guard sent == 1 else {
            let error = connectionError(connection, code: .connectionLost)
            close()
            throw error
        }
        _ = try await collect(connection, deadline: deadline)
        prepared[key] = name
        return name
    }

    private func run(_ sql: String, on connection: OpaquePointer, deadline: ContinuousClock.Instant) async throws(PostgresError) {
        guard PQsendQuery(connection, sql) == 1 else {
            let error = connectionError(connection, code: .connectionLost)
            close()
            throw error
        }
        _ = try await collect(connection, deadline: deadline)
    }

    /// Runs SQL text that may hold several statements (simple protocol, no binds). For migrations.
    func executeScript(_ sql: String, lease: UInt64) async throws(PostgresError) {
        if lease != currentLease {
            currentLease = lease
            dropIfUnusable()
        }
        let deadline = ContinuousClock.now + settings.queryTimeout + Self.clientDeadlineMargin
        let connection = try await connected()
        guard PQsendQuery(connection, sql) == 1 else {
            let error = connectionError(connection, code: .connectionLost)
            close()
            throw error
        }
        _ = try await collect(connection, deadline: deadline)
    }

    /// Closes the server connection; the next statement opens a new one.
    func close() {
        if let connection {
            SocketWaiter.shared.forget(PQsocket(connection))
            PQfinish(connection)
            self.connection = nil
        }
        prepared.removeAll()
        forcesGenericPlans = false
    }

    var isConnected: Bool { connection != nil }

    // MARK: - connecting

    private func connected() async throws(PostgresError) -> OpaquePointer {
        if let connection { return connection }
        let settings = self.settings
        let logger = self.logger
        // PQconnectdbParams blocks (DNS, TCP, TLS, authentication, per-host connect_timeout): off the pool.
        let made = await withCheckedContinuation { continuation in
            connectQueue.async {
                continuation.resume(returning: NewConnection.open(settings, logger: logger))
            }
        }
        let connection = try made.get().pointer
        self.connection = connection
        return connection
    }

    /// Drops the connection when the server has closed it (restart, admin termination) or when a previous
    /// holder left a transaction open: both are only detectable by looking before the next statement.
    private func dropIfUnusable() {
        guard let connection else { return }
        if PQstatus(connection) != CONNECTION_OK || PQtransactionStatus(connection) != PQTRANS_IDLE {
            close()
            return
        }
        // An idle connection has nothing to read unless the server is saying goodbye (restart, termination)
        // or sent an asynchronous message this client does not use: either way, start afresh.
        var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, 0) != 0 {
            close()
        }
    }

    // MARK: - results

    private func collect(_ connection: OpaquePointer, deadline: ContinuousClock.Instant) async throws(PostgresError) -> PostgresRows {
        try await flush(connection, deadline: deadline)
        var rows: PostgresRows?
        var failure: PostgresError?
        while true {
            while PQisBusy(connection) == 1 {
                try await wait(connection, for: .read, deadline: deadline)
                guard PQconsumeInput(connection) == 1 else {
                    let error = connectionError(connection, code: .connectionLost)
                    close()
                    throw error
                }
            }
            guard let result = PQgetResult(connection) else { break }
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
                if failure == nil { rows = PostgresRows(copying: result) }
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                if failure == nil { failure = Self.serverError(result) }
            default:
                // COPY and pipeline states are not used by this client.
                if failure == nil { failure = PostgresError(code: .server, message: "unsupported result status \(PQresultStatus(result).rawValue)") }
            }
        }
        if PQstatus(connection) != CONNECTION_OK {
            let error = failure.map { PostgresError(code: .connectionLost, sqlState: $0.sqlState, message: $0.message) }
            close()
            throw error ?? PostgresError(code: .connectionLost, message: "the server closed the connection")
        }
        if let failure { throw failure }
        return rows ?? .empty
    }

    private func flush(_ connection: OpaquePointer, deadline: ContinuousClock.Instant) async throws(PostgresError) {
        var pending = PQflush(connection)
        while pending == 1 {
            try await wait(connection, for: .readOrWrite, deadline: deadline)
            pending = PQconsumeInput(connection) == 1 ? PQflush(connection) : -1
        }
        if pending != 0 {
            let error = connectionError(connection, code: .connectionLost)
            close()
            throw error
        }
    }

    /// Waits for the socket within the deadline; past it the connection is closed, since the server's
    /// state is then unknown.
    private func wait(_ connection: OpaquePointer, for interest: SocketWaiter.Interest, deadline: ContinuousClock.Instant) async throws(PostgresError)
    {
        guard ContinuousClock.now < deadline,
            await SocketWaiter.shared.wait(PQsocket(connection), for: interest, until: deadline) == .ready
        else {
            close()
            throw PostgresError(code: .timeout, message: "no answer within \(settings.queryTimeout)")
        }
    }

    private func connectionError(_ connection: OpaquePointer, code: PostgresError.Code) -> PostgresError {
        PostgresError(code: code, message: Self.firstLine(String(cString: PQerrorMessage(connection))))
    }

    static func firstLine(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }

    static func serverError(_ result: OpaquePointer) -> PostgresError {
        func field(_ code: UInt8) -> String? {
            PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
        }
        let message = [field(UInt8(ascii: "M")), field(UInt8(ascii: "D"))].compactMap { $0 }.joined(separator: " ")
        return PostgresError(code: .server, sqlState: field(UInt8(ascii: "C")), constraint: field(UInt8(ascii: "n")), message: message)
    }
}

private let noticeLogger = Logger(label: "postgres.notice")

/// Bind values checked for what libpq cannot take, and laid out as the C arrays PQsendQueryParams takes
/// only while a call needs them, in temporary storage (on the stack for a statement's usual handful of
/// binds): no heap allocation per statement.
struct CBinds {
    private let binds: [PostgresBind]
    private let byteCount: Int

    init(_ binds: [PostgresBind]) throws(PostgresError) {
        var byteCount = 0
        for (index, bind) in binds.enumerated() {
            guard let bytes = bind.bytes else { continue }
            // Text travels as a C string, so a NUL byte would silently cut it short: refuse it instead.
            if bind.format == .text && bytes.contains(0) {
                throw PostgresError(code: .invalidBind, message: "bind $\(index + 1) contains a NUL byte, which text cannot hold")
            }
            byteCount += bytes.count + 1
        }
        self.binds = binds
        self.byteCount = byteCount
    }

    func withArrays<Result>(
        _ body: (UnsafePointer<UInt32>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> Result
    ) -> Result {
        let count = binds.count
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: max(byteCount, 1)) { storage in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: max(count, 1)) { types in
                withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: max(count, 1)) { values in
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(count * 2, 1)) { lengthsAndFormats in
                        var offset = 0
                        for (index, bind) in binds.enumerated() {
                            types[index] = bind.oid
                            lengthsAndFormats[count + index] = bind.format.rawValue
                            guard let bytes = bind.bytes else {
                                values[index] = nil
                                lengthsAndFormats[index] = 0
                                continue
                            }
                            let start = storage.baseAddress! + offset
                            bytes.withUnsafeBufferPointer { source in
                                source.withMemoryRebound(to: CChar.self) { source in
                                    if let base = source.baseAddress { start.initialize(from: base, count: source.count) }
                                }
                            }
                            start[bytes.count] = 0
                            values[index] = UnsafePointer(start)
                            lengthsAndFormats[index] = Int32(bytes.count)
                            offset += bytes.count + 1
                        }
                        let lengths = lengthsAndFormats.baseAddress!
                        return body(
                            UnsafePointer(types.baseAddress),
                            UnsafePointer(values.baseAddress),
                            UnsafePointer(lengths),
                            UnsafePointer(lengths + count)
                        )
                    }
                }
            }
        }
    }
}

/// A new libpq connection handed from the connecting queue to its owner. Sendable because exactly one
/// side holds it at a time: the queue gives it up when it hands it over.
struct NewConnection: @unchecked Sendable {
    let pointer: OpaquePointer

    /// Connects with `settings`, blocking the calling thread (DNS, TCP, TLS, authentication, per-host
    /// connect_timeout): call it on a queue of its own, never on Swift's cooperative pool or an event loop.
    /// The connection comes back in non-blocking mode with server notices sent to the log.
    static func open(_ settings: ConnectionSettings, logger: Logger) -> Result<NewConnection, PostgresError> {
        let started = ContinuousClock.now
        guard let connection = settings.withCParameters({ PQconnectdbParams($0, $1, 0) }) else {
            return .failure(PostgresError(code: .connectionFailed, message: "out of memory"))
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection))
            PQfinish(connection)
            let code: PostgresError.Code =
                message.contains("password authentication failed") || message.contains("SCRAM") ? .authenticationFailed : .connectionFailed
            logger.info("postgres connect failed", metadata: ["postgres.error": "\(code)"])
            return .failure(PostgresError(code: code, message: PostgresConnection.firstLine(message)))
        }
        // libpq prints server warnings to stderr by default; they belong in the log.
        PQsetNoticeProcessor(
            connection,
            { _, message in
                guard let message else { return }
                noticeLogger.warning(
                    "postgres notice",
                    metadata: ["postgres.notice": "\(Redaction.redact(String(cString: message)).trimmingCharacters(in: .whitespacesAndNewlines))"]
                )
            },
            nil
        )
        guard PQsetnonblocking(connection, 1) == 0 else {
            PQfinish(connection)
            return .failure(PostgresError(code: .connectionFailed, message: "cannot make the socket non-blocking"))
        }
        logger.debug(
            "postgres connected",
            metadata: [
                "postgres.backend_pid": "\(PQbackendPID(connection))", "postgres.connect_ms": "\((ContinuousClock.now - started).milliseconds)",
            ]
        )
        return .success(NewConnection(pointer: connection))
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
