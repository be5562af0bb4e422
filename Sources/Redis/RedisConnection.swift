import CHiredis
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One Redis connection shared by every task that uses it: a NIO channel on one event loop. Commands from many tasks are written in the order they arrive and their replies, which Redis
/// sends in that order, are matched to them first-in first-out, so concurrent calls pipeline on the
/// socket. The socket is read and written on its event loop (where the HTTP connections live too); hiredis
/// only parses replies (its reader). A reply late past the command timeout, a protocol error or a lost
/// socket closes the channel and fails every command in flight; the next command connects again and
/// re-authenticates.
public final class RedisConnection: Sendable {
    private enum State {
        case idle
        case connecting(EventLoopFuture<Connected>)
        case connected(Connected)
        case closed
    }

    /// An open channel and its handler, which only its event loop may touch.
    struct Connected: Sendable {
        let channel: any Channel
        let handler: NIOLoopBound<RedisChannelHandler>
    }

    private let configuration: RedisClient.Configuration
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let state = Mutex<State>(.idle)

    init(configuration: RedisClient.Configuration, eventLoop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Sends one command and returns its reply; an error reply is returned as `.error`, not thrown.
    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisValue {
        try await pipeline([command])[0]
    }

    /// Sends every command in one write and returns their replies in order, within the command timeout.
    public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        return try await exchange(commands, on: try await connected())
    }

    /// Closes the connection for good: commands after this fail with `.shutDown`.
    public func close() async {
        let open: State = state.withLock { state in
            defer { state = .closed }
            return state
        }
        switch open {
        case .connected(let connected): try? await connected.channel.close()
        case .connecting(let future): try? await future.get().channel.close()
        case .idle, .closed: break
        }
    }

    private func exchange(_ commands: [RedisCommand], on connected: Connected) async throws(RedisError) -> [RedisValue] {
        let loop = connected.channel.eventLoop
        let promise = loop.makePromise(of: [RedisValue].self)
        let payload = RESP.encode(commands, allocator: connected.channel.allocator)
        let deadline = NIODeadline.now() + TimeAmount(configuration.commandTimeout)
        let count = commands.count
        if loop.inEventLoop {
            // The usual case (see RedisClient.withConnection): the caller runs on the connection's loop.
            connected.handler.value.enqueue(payload, replies: count, deadline: deadline, promise: promise)
        } else {
            loop.execute {
                connected.handler.value.enqueue(payload, replies: count, deadline: deadline, promise: promise)
            }
        }
        do {
            return try await promise.futureResult.get()
        } catch {
            throw Self.redisError(error, default: .connectionLost)
        }
    }

    // MARK: - connecting

    private enum Next {
        case use(Connected)
        case wait(EventLoopFuture<Connected>)
        case connect(EventLoopPromise<Connected>)
        case refuse
    }

    /// The open channel; the first caller to find none connects, the others wait for that attempt.
    private func connected() async throws(RedisError) -> Connected {
        let next: Next = state.withLock { state in
            switch state {
            case .connected(let connected) where connected.channel.isActive:
                return .use(connected)
            case .connecting(let future):
                return .wait(future)
            case .closed:
                return .refuse
            case .idle, .connected:
                let promise = eventLoop.makePromise(of: Connected.self)
                state = .connecting(promise.futureResult)
                return .connect(promise)
            }
        }
        switch next {
        case .use(let connected):
            return connected
        case .refuse:
            throw RedisError(code: .shutDown)
        case .wait(let future):
            do {
                return try await future.get()
            } catch {
                throw Self.redisError(error, default: .connectionFailed)
            }
        case .connect(let promise):
            do throws(RedisError) {
                let connected = try await connect()
                let kept = state.withLock { state in
                    guard case .connecting = state else { return false }
                    state = .connected(connected)
                    return true
                }
                guard kept else {
                    // Closed while connecting.
                    connected.channel.close(promise: nil)
                    throw RedisError(code: .shutDown)
                }
                promise.succeed(connected)
                return connected
            } catch {
                state.withLock { state in
                    if case .connecting = state { state = .idle }
                }
                promise.fail(error)
                throw error
            }
        }
    }

    private func connect() async throws(RedisError) -> Connected {
        let address = "\(configuration.host):\(configuration.port)"
        let timeout = configuration.commandTimeout
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(commandTimeout: timeout))
                }
            }
        let connected: Connected
        do {
            let channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
            let handler = try await channel.eventLoop.submit {
                NIOLoopBound(try channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self), eventLoop: channel.eventLoop)
            }.get()
            connected = Connected(channel: channel, handler: handler)
        } catch {
            logger.info("redis connect failed", metadata: ["redis.address": "\(address)"])
            throw RedisError(code: .connectionFailed, message: "\(error)")
        }
        // Back to idle when the channel closes (server restart, CLIENT KILL, timeout), so the next command
        // connects again.
        connected.channel.closeFuture.whenComplete { _ in
            self.state.withLock { state in
                if case .connected(let current) = state, current.channel === connected.channel { state = .idle }
            }
        }
        do throws(RedisError) {
            if let password = configuration.password {
                let auth = configuration.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password)
                let reply: RedisValue
                do {
                    reply = try await exchange([auth], on: connected)[0]
                } catch {
                    throw RedisError(code: .connectionFailed, message: "AUTH failed: \(error.code)")
                }
                if case .error(let message) = reply {
                    // Redis's reply (WRONGPASS ..., ERR invalid password) never echoes the password.
                    throw RedisError(code: .authenticationFailed, kind: message.split(separator: " ").first.map(String.init), message: message)
                }
            }
            if configuration.database != 0 {
                if case .error(let message) = try await exchange([RedisCommand("SELECT", configuration.database)], on: connected)[0] {
                    throw RedisError(code: .invalidConfiguration, message: "SELECT failed: \(message)")
                }
            }
        } catch {
            connected.channel.close(promise: nil)
            throw error
        }
        logger.debug("redis connected", metadata: ["redis.address": "\(address)"])
        return connected
    }

    private static func redisError(_ error: any Error, default code: RedisError.Code) -> RedisError {
        (error as? RedisError) ?? RedisError(code: code, message: "\(error)")
    }
}

/// The channel's end of a connection: writes each request's commands, feeds what arrives to hiredis's
/// reader and completes requests in order as their replies are complete. Only its event loop uses it.
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Request {
        var expected: Int
        var replies: [RedisValue]
        let deadline: NIODeadline
        let promise: EventLoopPromise<[RedisValue]>
    }

    private let commandTimeout: Duration
    private let reader: UnsafeMutablePointer<redisReader>
    private var context: ChannelHandlerContext?
    private var requests = CircularBuffer<Request>()
    private var flushScheduled = false
    private var timer: Scheduled<Void>?
    /// Set once the connection failed: later requests fail with it at once.
    private var failure: RedisError?

    init(commandTimeout: Duration) {
        self.commandTimeout = commandTimeout
        self.reader = redisReaderCreate()
    }

    deinit { redisReaderFree(reader) }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(RedisError(code: .connectionLost, message: "the connection was closed"))
        self.context = nil
    }

    /// Queues one request. Writes made in the same event-loop turn share one flush (one syscall).
    func enqueue(_ payload: ByteBuffer, replies: Int, deadline: NIODeadline, promise: EventLoopPromise<[RedisValue]>) {
        guard let context, failure == nil, context.channel.isActive else {
            promise.fail(failure ?? RedisError(code: .connectionLost, message: "the connection was closed"))
            return
        }
        var replyStorage: [RedisValue] = []
        replyStorage.reserveCapacity(replies)
        requests.append(Request(expected: replies, replies: replyStorage, deadline: deadline, promise: promise))
        context.write(wrapOutboundOut(payload), promise: nil)
        if !flushScheduled {
            flushScheduled = true
            context.eventLoop.assumeIsolated().execute {
                self.flushScheduled = false
                self.context?.flush()
            }
        }
        if timer == nil { armTimer(at: deadline) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let fed = buffer.withUnsafeReadableBytes { bytes in
            redisReaderFeed(reader, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        guard fed == REDIS_OK else { return protocolError(context) }
        while true {
            var reply: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &reply) == REDIS_OK else { return protocolError(context) }
            guard let reply else { return }
            let value = RedisValue(reply: reply.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(reply)
            guard !requests.isEmpty else { return protocolError(context) }
            requests[requests.startIndex].replies.append(value)
            if requests[requests.startIndex].replies.count == requests[requests.startIndex].expected {
                let done = requests.removeFirst()
                done.promise.succeed(done.replies)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError(code: .connectionLost, message: "the server closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, RedisError(code: .connectionLost, message: "\(error)"))
    }

    private func protocolError(_ context: ChannelHandlerContext) {
        let message = withUnsafeBytes(of: reader.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        fail(context, RedisError(code: .connectionLost, message: "protocol error: \(message.isEmpty ? "an unexpected reply" : message)"))
    }

    /// One timer per connection, for the oldest request (every request has the same timeout, so the oldest
    /// has the earliest deadline): when it fires with that request still waiting the connection is closed.
    private func armTimer(at deadline: NIODeadline) {
        guard let context else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timer = nil
            guard let oldest = self.requests.first else { return }
            guard oldest.deadline <= .now() else { return self.armTimer(at: oldest.deadline) }
            self.context.map { self.fail($0, RedisError(code: .timeout, message: "no answer within \(self.commandTimeout)")) }
        }
    }

    /// Closes the channel before failing the requests, so that a caller retrying at once finds it closed
    /// and connects again.
    private func fail(_ context: ChannelHandlerContext, _ error: RedisError) {
        if failure == nil { failure = error }
        context.close(promise: nil)
        failAll(error)
    }

    /// Fails every waiting request with the connection's first failure.
    private func failAll(_ error: RedisError) {
        if failure == nil { failure = error }
        timer?.cancel()
        timer = nil
        while let request = requests.popFirst() { request.promise.fail(failure ?? error) }
    }
}

/// RESP encoding of commands (arrays of bulk strings).
enum RESP {
    static func encode(_ commands: [RedisCommand], allocator: ByteBufferAllocator) -> ByteBuffer {
        var size = 0
        for command in commands {
            size += 16
            for argument in command.arguments { size += argument.count + 16 }
        }
        var buffer = allocator.buffer(capacity: size)
        for command in commands {
            buffer.writeInteger(UInt8(ascii: "*"))
            writeDecimal(command.arguments.count, to: &buffer)
            for argument in command.arguments {
                buffer.writeInteger(UInt8(ascii: "$"))
                writeDecimal(argument.count, to: &buffer)
                buffer.writeBytes(argument)
                buffer.writeStaticString("\r\n")
            }
        }
        return buffer
    }

    /// `value` (not negative) in decimal, then CRLF.
    private static func writeDecimal(_ value: Int, to buffer: inout ByteBuffer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var rest = value
            var index = digits.count
            repeat {
                index -= 1
                digits[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            buffer.writeBytes(UnsafeBufferPointer(rebasing: digits[index...]))
        }
        buffer.writeStaticString("\r\n")
    }
}

extension RedisValue {
    /// A copy of a hiredis reply (the caller frees the reply).
    init(reply: UnsafeMutablePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            self = .bulk(r.str.map { Array(UnsafeRawBufferPointer(start: $0, count: r.len)) } ?? [])
        case REDIS_REPLY_STATUS:
            self = .status(r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.len), as: UTF8.self) } ?? "")
        case REDIS_REPLY_ERROR:
            self = .error(r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.len), as: UTF8.self) } ?? "")
        case REDIS_REPLY_INTEGER:
            self = .integer(Int(r.integer))
        case REDIS_REPLY_ARRAY:
            self = .array((0..<r.elements).map { RedisValue(reply: r.element[$0]!) })
        default:
            self = .null
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
