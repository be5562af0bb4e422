import ConnectionPool
import Logging
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

    /// Fails with `.invalidConfiguration` when the connection string cannot be parsed (without quoting it).
    public init(configuration: Configuration, logger: Logger = Logger(label: "postgres")) throws(PostgresError) {
        guard configuration.poolSize > 0 else {
            throw PostgresError(code: .invalidConfiguration, message: "poolSize must be at least 1")
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
    }

    /// Waits for graceful shutdown (or cancellation), then lets in-flight work finish and closes every connection.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Refuses new work, waits for leased connections to come back, and closes them all.
    public func shutdown() async {
        await pool.drain { await $0.close() }
    }

    public var poolStatistics: PoolStateMachine.Statistics { pool.statistics }

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
