import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Connections to one Redis server, each shared by every task (commands pipeline on it; see
/// `RedisConnection`), spread over the event loops. A task running on one of those loops (query-api and
/// command-api run Swift concurrency on them) uses a connection of its own loop, so a command and its reply
/// never leave the thread the request is on. Add it to the application's services: `run()` closes every
/// connection on graceful shutdown. Every wait is bounded: connect, and each round trip.
public final class RedisClient: Sendable, Service {
    public let configuration: Configuration
    private let connections: [RedisConnection]
    /// Indices into `connections` of the connections on each event loop.
    private let byLoop: [ObjectIdentifier: [Int]]
    private let turn = Atomic<Int>(0)

    public init(
        configuration: Configuration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis")
    ) throws(RedisError) {
        let loops = Array(eventLoopGroup.makeIterator())
        let count = configuration.poolSize ?? loops.count
        guard count > 0 else {
            throw RedisError(code: .invalidConfiguration, message: "poolSize must be at least 1")
        }
        self.configuration = configuration
        // One TLS context for every connection: the CA, certificate and key are read once, here.
        let tls = try configuration.tls.map { settings throws(RedisError) in try Self.tlsContext(settings) }
        self.connections = (0..<count).map { index in
            RedisConnection(configuration: configuration, tls: tls, eventLoop: loops[index % loops.count], logger: logger)
        }
        var byLoop: [ObjectIdentifier: [Int]] = [:]
        for index in 0..<count { byLoop[ObjectIdentifier(loops[index % loops.count]), default: []].append(index) }
        self.byLoop = byLoop
    }

    /// A client context that verifies the server fully (chain and name), TLS 1.2 at least.
    static func tlsContext(_ settings: Configuration.TLS) throws(RedisError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        do {
            if let ca = settings.caFile {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            }
            if let certificate = settings.certificateFile, let key = settings.keyFile {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw RedisError(code: .invalidConfiguration, message: "cannot load the TLS files (ssl_ca_certs, ssl_certfile, ssl_keyfile): \(error)")
        }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Closes every connection; later commands fail with `.shutDown`.
    public func shutdown() async {
        for connection in connections { await connection.close() }
    }

    /// Runs `body` with one connection: the commands `body` sends go out in order on it, between other
    /// tasks' commands.
    nonisolated(nonsending) public func withConnection<Result>(
        _ body: nonisolated(nonsending) (RedisConnection) async throws -> Result
    ) async throws -> Result {
        try await body(connection())
    }

    /// The connection a command of the calling task should use: one of the current event loop's when the
    /// task runs on one of the client's loops, else the next in turn.
    public func connection() -> RedisConnection {
        let turn = turn.wrappingAdd(1, ordering: .relaxed).oldValue & Int.max
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop, let local = byLoop[ObjectIdentifier(loop)] {
            return connections[local[turn % local.count]]
        }
        return connections[turn % connections.count]
    }

    /// Sends one command. An error reply is thrown as `RedisError` with code `.server`.
    @discardableResult
    nonisolated(nonsending) public func send(_ command: RedisCommand) async throws -> RedisValue {
        let reply = try await connection().send(command)
        if case .error(let message) = reply { throw Self.serverError(message) }
        return reply
    }

    @discardableResult
    nonisolated(nonsending) public func send(_ name: String, _ arguments: any RedisArgument...) async throws -> RedisValue {
        try await send(RedisCommand(name, arguments: arguments))
    }

    /// Sends every command in one round trip. Error replies come back in place as `.error`, so one failing
    /// command does not hide the others' results.
    nonisolated(nonsending) public func pipeline(_ commands: [RedisCommand]) async throws -> [RedisValue] {
        try await connection().pipeline(commands)
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
