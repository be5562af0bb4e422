import ConnectionPool
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A pool of hiredis connections to one Redis server. Add it to the application's services: `run()` holds
/// it open and closes every connection on graceful shutdown. Every wait is bounded: connect, checkout,
/// and each round trip.
public final class RedisClient: Sendable, Service {
    public let configuration: Configuration
    private let pool: ConnectionPool<RedisConnection>

    public init(configuration: Configuration, logger: Logger = Logger(label: "redis")) throws(RedisError) {
        guard configuration.poolSize > 0 else {
            throw RedisError(code: .invalidConfiguration, message: "poolSize must be at least 1")
        }
        // A write to a socket Redis has closed raises SIGPIPE, whose default action ends the process.
        signal(SIGPIPE, SIG_IGN)
        self.configuration = configuration
        self.pool = ConnectionPool(size: configuration.poolSize) { index in
            RedisConnection(configuration: configuration, label: "redis.connection.\(index)", logger: logger)
        }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Refuses new work, waits for leased connections to come back, and closes them all.
    public func shutdown() async {
        await pool.drain { await $0.close() }
    }

    public var poolStatistics: PoolStateMachine.Statistics { pool.statistics }

    public func withConnection<Result>(_ body: (RedisConnection) async throws -> Result) async throws -> Result {
        let slot: Int
        do {
            slot = try await pool.lease(timeout: configuration.checkoutTimeout)
        } catch PoolError.checkoutTimeout {
            throw RedisError(code: .poolTimeout)
        } catch PoolError.shutDown {
            throw RedisError(code: .shutDown)
        }
        defer { pool.release(slot: slot) }
        return try await body(pool.connections[slot])
    }

    /// Sends one command. An error reply is thrown as `RedisError` with code `.server`.
    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RedisValue {
        let reply = try await withConnection { try await $0.send(command) }
        if case .error(let message) = reply { throw Self.serverError(message) }
        return reply
    }

    @discardableResult
    public func send(_ name: String, _ arguments: any RedisArgument...) async throws -> RedisValue {
        try await send(RedisCommand(name, arguments: arguments))
    }

    /// Sends every command in one round trip. Error replies come back in place as `.error`, so one failing
    /// command does not hide the others' results.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RedisValue] {
        try await withConnection { try await $0.pipeline(commands) }
    }

    /// Runs a script by its SHA-1, loading it first when Redis does not have it.
    @discardableResult
    public func run(_ script: RedisScript, keys: [any RedisArgument], arguments: [any RedisArgument] = []) async throws -> RedisValue {
        let evalsha = RedisCommand("EVALSHA", arguments: [script.sha1, keys.count] + keys + arguments)
        let reply = try await withConnection { connection in
            let reply = try await connection.send(evalsha)
            guard case .error(let message) = reply, message.hasPrefix("NOSCRIPT") else { return reply }
            let load = try await connection.send(RedisCommand("SCRIPT", "LOAD", script.source))
            if case .error(let message) = load { return .error(message) }
            return try await connection.send(evalsha)
        }
        if case .error(let message) = reply { throw Self.serverError(message) }
        return reply
    }

    private static func serverError(_ message: String) -> RedisError {
        RedisError(code: .server, kind: message.split(separator: " ").first.map(String.init), message: message)
    }
}
