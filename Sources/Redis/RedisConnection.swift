import CHiredis
import ConnectionPool
import Foundation
import Logging

/// One hiredis context. Every hiredis call runs on the connection's own serial queue (its executor),
/// never on Swift's cooperative threads. A context that saw an I/O error or timeout is dead in hiredis:
/// it is freed, and the next command connects again, re-authenticates and re-applies the timeouts.
public actor RedisConnection {
    private nonisolated let executor: SerialQueueExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let configuration: RedisClient.Configuration
    private let logger: Logger
    private var context: UnsafeMutablePointer<redisContext>?

    init(configuration: RedisClient.Configuration, label: String, logger: Logger) {
        self.executor = SerialQueueExecutor(label: label)
        self.configuration = configuration
        self.logger = logger
    }

    isolated deinit {
        if let context { redisFree(context) }
    }

    /// Sends one command and returns its reply; an error reply is returned as `.error`, not thrown.
    public func send(_ command: RedisCommand) throws(RedisError) -> RedisValue {
        try pipeline([command])[0]
    }

    /// Writes every command, then reads every reply, in one round trip.
    public func pipeline(_ commands: [RedisCommand]) throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        dropIfClosedByServer()
        let context = try connected()
        for command in commands {
            let appended = Self.withArgv(command.arguments) { argc, argv, lengths in
                redisAppendCommandArgv(context, argc, argv, lengths)
            }
            guard appended == REDIS_OK else { throw fail(context) }
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(context, &reply) == REDIS_OK, let reply else { throw fail(context) }
            let typed = reply.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.value(of: typed))
            freeReplyObject(reply)
        }
        return replies
    }

    func close() {
        if let context {
            redisFree(context)
            self.context = nil
        }
    }

    // MARK: - connecting

    private func connected() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if let context { return context }
        guard let context = redisConnectWithTimeout(configuration.host, Int32(configuration.port), Self.timeval(configuration.connectTimeout)) else {
            throw RedisError(code: .connectionFailed, message: "out of memory")
        }
        if context.pointee.err != 0 {
            let message = Self.errorText(context)
            redisFree(context)
            logger.info("redis connect failed", metadata: ["redis.address": "\(configuration.host):\(configuration.port)"])
            throw RedisError(code: .connectionFailed, message: message)
        }
        guard redisSetTimeout(context, Self.timeval(configuration.commandTimeout)) == REDIS_OK else {
            let message = Self.errorText(context)
            redisFree(context)
            throw RedisError(code: .connectionFailed, message: message)
        }
        _ = redisEnableKeepAlive(context)
        self.context = context
        if let password = configuration.password {
            let auth = configuration.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password)
            let reply: RedisValue
            do {
                reply = try pipeline([auth])[0]
            } catch {
                throw RedisError(code: .connectionFailed, message: "AUTH failed: \(error.code)")
            }
            if case .error(let message) = reply {
                close()
                // Redis's reply (WRONGPASS ..., ERR invalid password) never echoes the password.
                throw RedisError(code: .authenticationFailed, kind: message.split(separator: " ").first.map(String.init), message: message)
            }
        }
        if configuration.database != 0 {
            if case .error(let message) = try pipeline([RedisCommand("SELECT", configuration.database)])[0] {
                close()
                throw RedisError(code: .invalidConfiguration, message: "SELECT failed: \(message)")
            }
        }
        logger.debug("redis connected", metadata: ["redis.address": "\(configuration.host):\(configuration.port)"])
        return context
    }

    /// An idle context whose socket is readable has been closed by the server (restart, timeout, CLIENT KILL):
    /// drop it so the next command reconnects instead of failing.
    private func dropIfClosedByServer() {
        guard let context else { return }
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, 0) != 0 { close() }
    }

    private func fail(_ context: UnsafeMutablePointer<redisContext>) -> RedisError {
        let message = Self.errorText(context)
        let timedOut = context.pointee.err == REDIS_ERR_IO && (message.contains("temporarily unavailable") || message.contains("timed out"))
        close()
        return RedisError(code: timedOut ? .timeout : .connectionLost, message: message)
    }

    // MARK: - C helpers

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .bulk(r.str.map { Array(UnsafeRawBufferPointer(start: $0, count: r.len)) } ?? [])
        case REDIS_REPLY_STATUS:
            return .status(r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.len), as: UTF8.self) } ?? "")
        case REDIS_REPLY_ERROR:
            return .error(r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.len), as: UTF8.self) } ?? "")
        case REDIS_REPLY_INTEGER:
            return .integer(Int(r.integer))
        case REDIS_REPLY_ARRAY:
            return .array((0..<r.elements).map { value(of: r.element[$0]!) })
        default:
            return .null
        }
    }

    private static func withArgv<Result>(
        _ arguments: [[UInt8]],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Result
    ) -> Result {
        var storage = [UInt8]()
        storage.reserveCapacity(arguments.reduce(0) { $0 + $1.count + 1 })
        var offsets: [Int] = []
        for argument in arguments {
            offsets.append(storage.count)
            storage.append(contentsOf: argument)
            storage.append(0)
        }
        let lengths = arguments.map(\.count)
        return storage.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return argv.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { lengths in
                    body(Int32(arguments.count), argv.baseAddress!, lengths.baseAddress!)
                }
            }
        }
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func timeval(_ duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
