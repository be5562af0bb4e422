import CHiredis
import ConnectionPool
import Foundation
import Logging

/// One hiredis context, in non-blocking mode: commands are written and replies parsed on the calling
/// task (those hiredis calls never block), and waiting for the socket suspends on the shared
/// `SocketWaiter`, so no thread is held or switched to per command. Connecting, which hiredis does with
/// blocking calls, runs on a dispatch queue of its own. A context that saw an I/O error or timeout is
/// dead in hiredis: it is freed, and the next command connects again and re-authenticates.
public actor RedisConnection {
    private let connectQueue: DispatchQueue
    private let configuration: RedisClient.Configuration
    private let logger: Logger
    private var context: UnsafeMutablePointer<redisContext>?

    init(configuration: RedisClient.Configuration, label: String, logger: Logger) {
        self.connectQueue = DispatchQueue(label: label)
        self.configuration = configuration
        self.logger = logger
    }

    isolated deinit {
        if let context {
            SocketWaiter.shared.forget(context.pointee.fd)
            redisFree(context)
        }
    }

    /// Sends one command and returns its reply; an error reply is returned as `.error`, not thrown.
    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisValue {
        try await pipeline([command])[0]
    }

    /// Writes every command, then reads every reply, in one round trip, within the command timeout.
    public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        dropIfClosedByServer()
        let context = try await connected()
        return try await exchange(commands, on: context)
    }

    private func exchange(_ commands: [RedisCommand], on context: UnsafeMutablePointer<redisContext>) async throws(RedisError) -> [RedisValue] {
        let deadline = ContinuousClock.now + configuration.commandTimeout
        for command in commands {
            let appended = Self.withArgv(command.arguments) { argc, argv, lengths in
                redisAppendCommandArgv(context, argc, argv, lengths)
            }
            guard appended == REDIS_OK else { throw fail(context) }
        }
        var written: Int32 = 0
        while written == 0 {
            guard redisBufferWrite(context, &written) == REDIS_OK else { throw fail(context) }
            if written == 0 { try await wait(context, for: .write, until: deadline) }
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var reply: UnsafeMutableRawPointer?
            while true {
                guard redisGetReplyFromReader(context, &reply) == REDIS_OK else { throw fail(context) }
                if reply != nil { break }
                try await wait(context, for: .read, until: deadline)
                // In non-blocking mode a read that finds nothing yet is not an error; EOF is.
                guard redisBufferRead(context) == REDIS_OK else { throw fail(context) }
            }
            guard let reply else { throw fail(context) }
            replies.append(Self.value(of: reply.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(reply)
        }
        return replies
    }

    private func wait(
        _ context: UnsafeMutablePointer<redisContext>,
        for interest: SocketWaiter.Interest,
        until deadline: ContinuousClock.Instant
    )
        async throws(RedisError)
    {
        guard ContinuousClock.now < deadline, await SocketWaiter.shared.wait(context.pointee.fd, for: interest, until: deadline) == .ready else {
            close()
            throw RedisError(code: .timeout, message: "no answer within \(configuration.commandTimeout)")
        }
    }

    func close() {
        if let context {
            SocketWaiter.shared.forget(context.pointee.fd)
            redisFree(context)
            self.context = nil
        }
    }

    // MARK: - connecting

    /// hiredis connects with blocking calls (and a timeout): off the cooperative threads.
    private struct NewContext: @unchecked Sendable {
        // Handed from the connect queue to the actor once; never used by both at the same time.
        let pointer: UnsafeMutablePointer<redisContext>?
    }

    private func connected() async throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if let context { return context }
        let (host, port, timeout) = (configuration.host, Int32(configuration.port), Self.timeval(configuration.connectTimeout))
        let made = await withCheckedContinuation { continuation in
            connectQueue.async { continuation.resume(returning: NewContext(pointer: redisConnectWithTimeout(host, port, timeout))) }
        }
        guard let context = made.pointer else {
            throw RedisError(code: .connectionFailed, message: "out of memory")
        }
        if context.pointee.err != 0 {
            let message = Self.errorText(context)
            redisFree(context)
            logger.info("redis connect failed", metadata: ["redis.address": "\(configuration.host):\(configuration.port)"])
            throw RedisError(code: .connectionFailed, message: message)
        }
        _ = redisEnableKeepAlive(context)
        // From here on hiredis only reads and writes what the socket has room or data for.
        let flags = fcntl(context.pointee.fd, F_GETFL)
        guard flags >= 0, fcntl(context.pointee.fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            redisFree(context)
            throw RedisError(code: .connectionFailed, message: "cannot make the socket non-blocking")
        }
        context.pointee.flags &= ~Int32(REDIS_BLOCK)
        self.context = context
        if let password = configuration.password {
            let auth = configuration.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password)
            let reply: RedisValue
            do {
                reply = try await exchange([auth], on: context)[0]
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
            if case .error(let message) = try await exchange([RedisCommand("SELECT", configuration.database)], on: context)[0] {
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
