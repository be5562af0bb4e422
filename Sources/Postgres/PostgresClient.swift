import ConnectionPool
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A pool of libpq connections to one PostgreSQL service (one host, or several with libpq's multi-host
/// conninfo). Add it to the application's services: `run()` holds it open and closes every connection on
/// graceful shutdown. Every wait is bounded: connect, checkout, and each statement.
public final class PostgresClient: Sendable, Service {
    public struct Configuration: Sendable {
        /// A libpq connection string (`host=... port=... dbname=... user=... password=...`, hosts may be listed
        /// comma-separated with `target_session_attrs=read-write`) or a `postgresql://` URI.
        public var connectionString: String
        /// Connections the pool opens at most. Default 10.
        public var poolSize: Int = 10
        /// Per host, as libpq's connect_timeout (whole seconds, at least 2). Default 5 s.
        public var connectTimeout: Duration = .seconds(5)
        /// Server-side statement_timeout; the client gives up one second later. Default 10 s.
        public var queryTimeout: Duration = .seconds(10)
        /// How long a caller waits for a free connection. Default 5 s.
        public var checkoutTimeout: Duration = .seconds(5)
        /// Shown in pg_stat_activity. Default "album-catalog".
        public var applicationName: String = "album-catalog"
        /// Pipelined connections for `read` per event loop of the client (one loop per two cores); each carries
        /// many reads at once. They open on first use; reads fill the first, and the next takes them only when
        /// it has 32 in flight or its oldest read has waited 50 ms (see `PipelineSet.choose`). Default 2.
        public var pipelinedConnectionsPerLoop: Int = 2

        public init(connectionString: String) {
            self.connectionString = connectionString
        }
    }

    public enum IsolationLevel: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    public let configuration: Configuration
    private let pool: ConnectionPool<PostgresConnection>
    private let leases = Atomic<UInt64>(0)
    private let logger: Logger
    /// The pipelined read connections, one set per `PostgresEventLoop`.
    private let pipelines: [PipelineSet]

    /// Fails with `.invalidConfiguration` when the connection string cannot be parsed (without quoting it).
    public init(configuration: Configuration, logger: Logger = Logger(label: "postgres")) throws(PostgresError) {
        guard configuration.poolSize > 0 else {
            throw PostgresError(code: .invalidConfiguration, message: "poolSize must be at least 1")
        }
        guard configuration.pipelinedConnectionsPerLoop > 0 else {
            throw PostgresError(code: .invalidConfiguration, message: "pipelinedConnectionsPerLoop must be at least 1")
        }
        let settings = try ConnectionSettings(
            connectionString: configuration.connectionString,
            connectTimeout: configuration.connectTimeout,
            queryTimeout: configuration.queryTimeout,
            applicationName: configuration.applicationName
        )
        self.configuration = configuration
        self.logger = logger
        self.pool = ConnectionPool(size: configuration.poolSize) { index in
            PostgresConnection(settings: settings, label: "postgres.connection.\(index)", logger: logger)
        }
        self.pipelines = PostgresEventLoop.all.map { loop in
            PipelineSet(loop: loop, size: configuration.pipelinedConnectionsPerLoop, settings: settings, logger: logger)
        }
    }

    /// Waits for graceful shutdown (or cancellation), then lets in-flight work finish and closes every connection.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Refuses new work, waits for leased connections to come back, and closes them all.
    public func shutdown() async {
        for (index, set) in pipelines.enumerated() { PostgresEventLoop.all[index].submit(.shutdown(set)) }
        await pool.drain { await $0.close() }
    }

    /// Runs one statement that changes nothing (a SELECT) on a pipelined connection: many reads share a
    /// connection at once and are answered in order, each with its own result or its own error. The
    /// statement is prepared once per connection. A read that broke with its connection is sent once more
    /// on a fresh one; past `queryTimeout` (plus a margin for the server's own cancellation) it fails with
    /// `.timeout`. Never use it for a statement that writes: it may run twice.
    public func read(_ query: PostgresQuery) async throws(PostgresError) -> PostgresRows {
        let origin = MultiThreadedEventLoopGroup.currentEventLoop
        let index = PostgresEventLoop.index(for: origin)
        let set = pipelines[index]
        let deadline = ContinuousClock.now + configuration.queryTimeout + PostgresConnection.clientDeadlineMargin
        let outcome = await withUnsafeContinuation { continuation in
            PostgresEventLoop.all[index].submit(
                .read(PipelinedRead(query: query, continuation: continuation, deadline: deadline, origin: origin), set)
            )
        }
        return try outcome.get()
    }

    /// The client's event loops for pipelined reads (one per two cores), shared by every client in the process.
    public static var eventLoopCount: Int { PostgresEventLoop.all.count }

    /// How the exclusive connections are used now: the pool's size, those lent out, those idle, and the
    /// callers waiting for one.
    public struct PoolStatistics: Equatable, Sendable {
        public var size: Int
        public var leased: Int
        public var idle: Int
        public var waiting: Int
    }

    public var poolStatistics: PoolStatistics {
        let pool = pool.statistics
        return PoolStatistics(size: pool.size, leased: pool.leased, idle: pool.idle, waiting: pool.waiting)
    }

    /// Lends one connection to `body`; statements in it run in autocommit mode.
    public func withConnection<Result>(_ body: (PostgresSession) async throws -> Result) async throws -> Result {
        let slot: Int
        do {
            slot = try await pool.lease(timeout: configuration.checkoutTimeout)
        } catch PoolError.checkoutTimeout {
            throw PostgresError(code: .poolTimeout, message: "no connection free within \(configuration.checkoutTimeout)")
        } catch PoolError.shutDown {
            throw PostgresError(code: .shutDown)
        }
        defer { pool.release(slot: slot) }
        let lease = leases.add(1, ordering: .relaxed).newValue
        return try await body(PostgresSession(connection: pool.connections[slot], lease: lease))
    }

    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await withConnection { try await $0.query(query) }
    }

    /// Runs `body` in one transaction: COMMIT when it returns, ROLLBACK when it throws. When the connection
    /// breaks during COMMIT the error is `.commitOutcomeUnknown`: the caller cannot know whether it committed.
    public func withTransaction<Result>(
        isolation: IsolationLevel = .readCommitted,
        _ body: (PostgresSession) async throws -> Result
    ) async throws -> Result {
        try await withConnection { try await $0.withTransaction(isolation: isolation, body) }
    }
}

/// Runs single read-only statements for code that takes a reader rather than a client: on the client's
/// pipelined connections (`PostgresClient.read`), or each on an exclusive connection from the pool.
public struct PostgresReader: Sendable {
    public let client: PostgresClient
    /// false: every statement leases a connection of its own (`PostgresClient.query`).
    public let pipelined: Bool

    public init(client: PostgresClient, pipelined: Bool = true) {
        self.client = client
        self.pipelined = pipelined
    }

    public func query(_ query: PostgresQuery) async throws(PostgresError) -> PostgresRows {
        if pipelined { return try await client.read(query) }
        do {
            return try await client.query(query)
        } catch let error as PostgresError {
            throw error
        } catch {
            throw PostgresError(code: .shutDown, message: "\(error)")
        }
    }
}

/// A leased connection, valid inside the closure that received it.
public struct PostgresSession: Sendable {
    let connection: PostgresConnection
    let lease: UInt64

    @discardableResult
    public func query(_ query: PostgresQuery) async throws(PostgresError) -> PostgresRows {
        try await connection.execute(query, lease: lease)
    }

    /// Runs `body` in one transaction on this connection: COMMIT when it returns, ROLLBACK when it throws.
    /// When the connection breaks during COMMIT the error is `.commitOutcomeUnknown`.
    public func withTransaction<Result>(
        isolation: PostgresClient.IsolationLevel = .readCommitted,
        _ body: (PostgresSession) async throws -> Result
    ) async throws -> Result {
        try await query(PostgresQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(isolation.rawValue)"))
        let result: Result
        do {
            result = try await body(self)
        } catch {
            _ = try? await query("ROLLBACK")
            throw error
        }
        do {
            try await query("COMMIT")
        } catch {
            // `query` throws only PostgresError.
            guard error.code == .connectionLost || error.code == .timeout else { throw error }
            throw PostgresError(code: .commitOutcomeUnknown, sqlState: error.sqlState, message: error.message)
        }
        return result
    }

    /// Runs SQL text holding several statements (simple protocol, no binds), e.g. a migration file.
    public func execute(script: String) async throws(PostgresError) {
        try await connection.executeScript(script, lease: lease)
    }
}
