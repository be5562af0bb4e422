import CHiredis
import Logging
import NIOCore
import NIOPosix
import NIOSSL
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
        /// Raised by the handler the moment it gives the connection up (a timeout, an error), before the
        /// channel is closed: a TLS channel stays active while its close_notify goes out and comes back,
        /// and a command sent in that window was never written, and timed out.
        let broken: BrokenFlag

        /// Usable for a new command.
        var isUsable: Bool { channel.isActive && !broken.isRaised }
    }

    private let configuration: RedisClient.Configuration
    /// TLS, when the URL was `rediss://`: every connection starts with a handshake that verifies the server.
    private let tls: NIOSSLContext?
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let state = Mutex<State>(.idle)

    init(configuration: RedisClient.Configuration, tls: NIOSSLContext?, eventLoop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        self.tls = tls
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Sends one command and returns its reply; an error reply is returned as `.error`, not thrown.
    ///
    /// `nonisolated(nonsending)`, as every async function on the path of a command: it runs where its
    /// caller runs. A concurrent async function hops to the generic executor when it starts and after what
    /// it awaits, and under NIO's global executor (query-api and command-api install it) every such hop
    /// queues the task on its event loop again, though it never leaves that thread. With this, one command
    /// on an open connection is one async frame and one suspension: a cache hit went from 39.5 such
    /// trips through the loop's queue to 29 (uprobes on swift_task_switch; the bare server makes 22).
    nonisolated(nonsending) public func send(_ command: RedisCommand) async throws(RedisError) -> RedisValue {
        let connected: Connected
        if let open = openChannel() { connected = open } else { connected = try await self.connected() }
        let payload = connected.channel.allocator.buffer(bytes: command.encoded)
        do {
            return try await withUnsafeThrowingContinuation { continuation in
                submit(payload, .one(continuation), on: connected)
            }
        } catch {
            throw Self.redisError(error, default: .connectionLost)
        }
    }

    /// Sends every command in one write and returns their replies in order, within the command timeout.
    nonisolated(nonsending) public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        if let open = openChannel() { return try await exchange(commands, on: open) }
        return try await exchange(commands, on: connected())
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

    /// Writes the commands and waits for their replies: the handler resumes the continuation on its event
    /// loop, exactly once (replies, a failure of the connection, or the deadline: by default the command
    /// timeout from now).
    nonisolated(nonsending) private func exchange(
        _ commands: [RedisCommand],
        on connected: Connected,
        deadline: NIODeadline? = nil
    ) async throws(RedisError) -> [RedisValue] {
        let payload = RESP.encode(commands, allocator: connected.channel.allocator)
        do {
            return try await withUnsafeThrowingContinuation { continuation in
                submit(payload, .many(commands.count, continuation), on: connected, deadline: deadline)
            }
        } catch {
            throw Self.redisError(error, default: .connectionLost)
        }
    }

    /// Hands a request to the channel's handler, on its event loop.
    private func submit(
        _ payload: ByteBuffer,
        _ waiter: RedisChannelHandler.Waiter,
        on connected: Connected,
        deadline: NIODeadline? = nil
    ) {
        let deadline = deadline ?? NIODeadline.now() + TimeAmount(configuration.commandTimeout)
        let loop = connected.channel.eventLoop
        if loop.inEventLoop {
            // The usual case (see RedisClient.connection()): the caller runs on the connection's loop.
            connected.handler.value.enqueue(payload, deadline: deadline, waiter: waiter)
        } else {
            loop.execute { connected.handler.value.enqueue(payload, deadline: deadline, waiter: waiter) }
        }
    }

    // MARK: - connecting

    private enum Next {
        case use(Connected)
        case wait(EventLoopFuture<Connected>)
        case connect(EventLoopPromise<Connected>)
        case refuse
    }

    /// The open channel, if there is one (no suspension: the path of nearly every command).
    private func openChannel() -> Connected? {
        state.withLock { state in
            if case .connected(let connected) = state, connected.isUsable { return connected }
            return nil
        }
    }

    /// The open channel; the first caller to find none connects, the others wait for that attempt.
    nonisolated(nonsending) private func connected() async throws(RedisError) -> Connected {
        let next: Next = state.withLock { state in
            switch state {
            case .connected(let connected) where connected.isUsable:
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

    /// Connects (within the connect timeout), then runs the handshake (AUTH, SELECT) within the longer of the
    /// connect and command timeouts, counted from the open connection: a short command timeout (300 ms for
    /// a cache read) does not make a reconnect fail on a busy server that would have answered AUTH a little
    /// later, and no configuration gives the handshake less time than a command.
    private func connect() async throws(RedisError) -> Connected {
        let address = "\(configuration.host):\(configuration.port)"
        let timeout = configuration.commandTimeout
        let (tls, host) = (self.tls, configuration.host)
        let broken = BrokenFlag()
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // The name checked against the certificate: the URL's host name (also sent as SNI); for an
                        // IP address none, and NIOSSL checks the certificate's IP addresses against the
                        // connected address instead (an IP address may not be sent as SNI).
                        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tls, serverHostname: isAddress ? nil : host)
                        )
                    }
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(commandTimeout: timeout, broken: broken))
                }
            }
        let connected: Connected
        do {
            let channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
            let handler = try await channel.eventLoop.submit {
                NIOLoopBound(try channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self), eventLoop: channel.eventLoop)
            }.get()
            connected = Connected(channel: channel, handler: handler, broken: broken)
        } catch {
            logger.info("redis connect failed", metadata: ["redis.address": "\(address)"])
            throw RedisError(code: .connectionFailed, message: "\(error)")
        }
        let deadline = NIODeadline.now() + TimeAmount(max(configuration.connectTimeout, configuration.commandTimeout))
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
                    reply = try await exchange([auth], on: connected, deadline: deadline)[0]
                } catch {
                    // With the cause (a TLS handshake's failure, say); never the password.
                    throw RedisError(code: .connectionFailed, message: "AUTH failed: \(error.code): \(error.message)")
                }
                if case .error(let message) = reply {
                    // Redis's reply (WRONGPASS ..., ERR invalid password) never echoes the password.
                    throw RedisError(code: .authenticationFailed, kind: message.split(separator: " ").first.map(String.init), message: message)
                }
            }
            if configuration.database != 0 {
                if case .error(let message) = try await exchange([RedisCommand("SELECT", configuration.database)], on: connected, deadline: deadline)[
                    0
                ] {
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

    /// Who waits for a request's replies; resumed exactly once, since every request leaves `requests` only
    /// to be resumed.
    enum Waiter {
        /// One command, one reply (no array on the way).
        case one(UnsafeContinuation<RedisValue, any Error>)
        /// That many commands, their replies in order.
        case many(Int, UnsafeContinuation<[RedisValue], any Error>)

        func fail(_ error: RedisError) {
            switch self {
            case .one(let continuation): continuation.resume(throwing: error)
            case .many(_, let continuation): continuation.resume(throwing: error)
            }
        }
    }

    private struct Request {
        var replies: [RedisValue]
        let deadline: NIODeadline
        let waiter: Waiter
    }

    private let commandTimeout: Duration
    private let reader: UnsafeMutablePointer<redisReader>
    private var context: ChannelHandlerContext?
    private var requests = CircularBuffer<Request>()
    private var flushScheduled = false
    /// The commands queued in this event-loop turn, written as one buffer when the turn ends. Over TLS
    /// that makes them one record: Redis decrypts one record per read and, with a record per command,
    /// took one pipelined command per turn of its event loop (cached reads over TLS ran at 0.55 of
    /// plaintext; redis-benchmark, whose pipeline is one write, saw no such cost).
    private var pending: ByteBuffer?
    private var timer: Scheduled<Void>?
    /// When the timer fires.
    private var timerDeadline = NIODeadline.distantFuture
    /// Set once the connection failed: later requests fail with it at once.
    private var failure: RedisError?

    /// Raised when this handler gives the connection up (see `Connected.broken`).
    private let broken: BrokenFlag

    init(commandTimeout: Duration, broken: BrokenFlag) {
        self.commandTimeout = commandTimeout
        self.broken = broken
        self.reader = redisReaderCreate()
    }

    deinit { redisReaderFree(reader) }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(RedisError(code: .connectionLost, message: "the connection was closed"))
        pending = nil
        self.context = nil
    }

    /// Queues one request. Writes made in the same event-loop turn share one flush (one syscall).
    func enqueue(_ payload: ByteBuffer, deadline: NIODeadline, waiter: Waiter) {
        guard let context, failure == nil, context.channel.isActive else {
            waiter.fail(failure ?? RedisError(code: .connectionLost, message: "the connection was closed"))
            return
        }
        var replies: [RedisValue] = []
        if case .many(let count, _) = waiter { replies.reserveCapacity(count) }
        requests.append(Request(replies: replies, deadline: deadline, waiter: waiter))
        if pending == nil {
            pending = payload
        } else {
            pending!.writeImmutableBuffer(payload)
        }
        if !flushScheduled {
            flushScheduled = true
            context.eventLoop.assumeIsolated().execute {
                self.flushScheduled = false
                guard let context = self.context, let buffer = self.pending else { return }
                self.pending = nil
                context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
            }
        }
        // The handshake's deadline can be later than a command's (the longer of the connect and command
        // timeouts): a command after it moves the timer earlier.
        if timer == nil || deadline < timerDeadline {
            timer?.cancel()
            armTimer(at: deadline)
        }
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
            switch requests[requests.startIndex].waiter {
            case .one(let continuation):
                requests.removeFirst()
                continuation.resume(returning: value)
            case .many(let count, let continuation):
                requests[requests.startIndex].replies.append(value)
                if requests[requests.startIndex].replies.count == count {
                    continuation.resume(returning: requests.removeFirst().replies)
                }
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

    /// One timer per connection, for the oldest request (every command has the same timeout, so the oldest
    /// has the earliest deadline): when it fires with that request still waiting the connection is closed.
    private func armTimer(at deadline: NIODeadline) {
        guard let context else { return }
        timerDeadline = deadline
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
        broken.raise()
        context.close(promise: nil)
        failAll(error)
    }

    /// Fails every waiting request with the connection's first failure.
    private func failAll(_ error: RedisError) {
        if failure == nil { failure = error }
        timer?.cancel()
        timer = nil
        while let request = requests.popFirst() { request.waiter.fail(failure ?? error) }
    }
}

/// A one-way flag the event loop raises and any thread reads.
final class BrokenFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .releasing) }
    var isRaised: Bool { raised.load(ordering: .acquiring) }
}

/// RESP encoding of commands (arrays of bulk strings).
enum RESP {
    /// The commands' encodings, one after the other, in one buffer.
    static func encode(_ commands: [RedisCommand], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: commands.reduce(0) { $0 + $1.encoded.count })
        for command in commands { buffer.writeBytes(command.encoded) }
        return buffer
    }

    /// `$<count>\r\n<bytes>\r\n`.
    static func appendBulkString<Bytes: Collection<UInt8>>(_ value: Bytes, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "$"))
        withDecimal(value.count) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\r"), UInt8(ascii: "\n")])
        bytes.append(contentsOf: value)
        bytes.append(contentsOf: [UInt8(ascii: "\r"), UInt8(ascii: "\n")])
    }

    /// `value` in decimal ASCII digits, without allocating.
    static func withDecimal<Result>(_ value: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var rest = value.magnitude
            var index = digits.count
            repeat {
                index -= 1
                digits[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            if value < 0 {
                index -= 1
                digits[index] = UInt8(ascii: "-")
            }
            return body(UnsafeBufferPointer(rebasing: digits[index...]))
        }
    }

    /// The bulk strings of one encoded command (its name and arguments); empty if it is not one.
    static func bulkStrings(of encoded: [UInt8]) -> [[UInt8]] {
        var strings: [[UInt8]] = []
        var index = encoded.startIndex
        func number(after marker: UInt8) -> Int? {
            guard index < encoded.endIndex, encoded[index] == marker else { return nil }
            index += 1
            var value = 0
            while index < encoded.endIndex, encoded[index] != UInt8(ascii: "\r") {
                guard let digit = encoded[index].wholeNumberDigit else { return nil }
                value = value * 10 + digit
                index += 1
            }
            index += 2
            return value
        }
        guard let count = number(after: UInt8(ascii: "*")) else { return [] }
        for _ in 0..<count {
            guard let length = number(after: UInt8(ascii: "$")), index + length <= encoded.endIndex else { return [] }
            strings.append(Array(encoded[index..<index + length]))
            index += length + 2
        }
        return strings
    }
}

extension UInt8 {
    fileprivate var wholeNumberDigit: Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) ? Int(self - UInt8(ascii: "0")) : nil
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
