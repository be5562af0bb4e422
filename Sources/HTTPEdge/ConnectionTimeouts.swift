import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// How long a client may take, so that a slow one (a header sent a byte a second, a body that trickles)
/// cannot hold a connection, or the task that serves it, for long.
public struct ConnectionTimeouts: Sendable, Equatable {
    /// A request must arrive whole, head and body, within this of its first byte. The time the service
    /// then takes to answer is not counted (the query timeout bounds that).
    public var read: Duration
    /// A connection that sends nothing for this long, between requests or before the first, is closed.
    public var idle: Duration

    public init(read: Duration = .seconds(10), idle: Duration = .seconds(60)) {
        self.read = read
        self.idle = idle
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 as Hummingbird serves it, with `timeouts`: Hummingbird's idle timeout, and a read
    /// deadline from the first byte of each request to its end.
    public static func http1(timeouts: ConnectionTimeouts) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            let configuration = HTTP1Channel.Configuration(
                additionalChannelHandlers: [RequestEndObserver()],
                idleTimeout: TimeAmount(timeouts.idle)
            )
            return DeadlineHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: configuration), read: TimeAmount(timeouts.read))
        }
    }
}

/// Hummingbird's HTTP/1.1 channel with a `RequestReadDeadline` in front of its HTTP decoder (behind TLS,
/// when a TLS channel wraps this one: it sees the request's bytes).
struct DeadlineHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel
    let read: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let read = self.read
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RequestReadDeadline(timeout: read))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Closes the connection when a request has not arrived whole within `timeout` of its first byte. It sees
/// bytes (before the decoder); `RequestEndObserver`, behind the decoder, tells it where a request ends.
/// A request that arrives in one read, the usual case, schedules no timer: the timer is armed only when
/// a read leaves a request unfinished.
final class RequestReadDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let timeout: TimeAmount
    /// Bytes of a request have come and its end has not been decoded yet.
    private var reading = false
    private var startedAt = NIODeadline.uptimeNanoseconds(0)
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !reading {
            reading = true
            startedAt = .now()
        }
        context.fireChannelRead(data)
        armIfUnfinished()
    }

    /// A request's head was decoded: from bytes that came with the one before (pipelined), the deadline
    /// starts now.
    func headDecoded() {
        guard !reading else { return }
        reading = true
        startedAt = .now()
        armIfUnfinished()
    }

    /// A request's end was decoded: it arrived in time.
    func endDecoded() {
        reading = false
        timer?.cancel()
        timer = nil
    }

    private func armIfUnfinished() {
        guard reading, timer == nil, let context else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: startedAt + timeout) { [weak self] in
            self?.expired()
        }
    }

    private func expired() {
        timer = nil
        guard reading, let context else { return }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension RequestReadDeadline: Sendable {}

/// Behind the HTTP decoder: tells the connection's `RequestReadDeadline` where each request starts and ends.
final class RequestEndObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private var deadline: RequestReadDeadline?

    func handlerAdded(context: ChannelHandlerContext) {
        deadline = try? context.pipeline.syncOperations.handler(type: RequestReadDeadline.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: deadline?.headDecoded()
        case .end: deadline?.endDecoded()
        case .body: break
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension RequestEndObserver: Sendable {}
