import HTTPEdge
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Testing

/// Slow clients on a real socket: a request must arrive whole within the read timeout of its first byte,
/// a silent connection is closed at the idle timeout, and neither limit counts the time the service
/// takes to answer. Each case is one the other limit alone would let through for 30 s.
@Suite struct ConnectionTimeoutTests {
    static func withServer(read: Duration, idle: Duration, _ body: @Sendable (Int) async throws -> Void) async throws {
        let router = Router()
        router.get("/fast") { _, _ in "fast" }
        router.get("/slow") { _, _ in
            try await Task.sleep(for: .seconds(2))
            return "slow"
        }
        router.post("/echo") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            return "\(body.readableBytes) bytes"
        }
        let app = Application(
            router: router,
            server: .http1(timeouts: ConnectionTimeouts(read: read, idle: idle)),
            configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        try await app.test(.live) { client in
            try await body(try #require(client.port))
        }
    }

    @Test func aHeaderSentAByteAtATimeIsCutAtTheReadTimeout() async throws {
        try await Self.withServer(read: .seconds(1), idle: .seconds(30)) { port in
            let connection = try await RawConnection(port: port)
            let started = ContinuousClock.now
            try await connection.send("GET /fast HTTP/1.1\r\nHost: test\r\nX-Slow: ")
            let closedAfter = try await connection.trickle("a", every: .milliseconds(100), for: .seconds(15))
            let elapsed = try #require(closedAfter.map { $0 - started }, "still open after 15 s")
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(10), "closed after \(elapsed)")
            #expect(connection.received.isEmpty, "the server answered: \(connection.received)")
        }
    }

    @Test func aBodySentAByteAtATimeIsCutAtTheReadTimeout() async throws {
        try await Self.withServer(read: .seconds(1), idle: .seconds(30)) { port in
            let connection = try await RawConnection(port: port)
            let started = ContinuousClock.now
            try await connection.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n")
            let closedAfter = try await connection.trickle("b", every: .milliseconds(100), for: .seconds(15))
            let elapsed = try #require(closedAfter.map { $0 - started }, "still open after 15 s")
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(10), "closed after \(elapsed)")
            #expect(!connection.received.contains("bytes"), "the handler got the whole body: \(connection.received)")
        }
    }

    @Test func aSilentConnectionIsClosedAtTheIdleTimeout() async throws {
        try await Self.withServer(read: .seconds(30), idle: .seconds(1)) { port in
            let connection = try await RawConnection(port: port)
            let started = ContinuousClock.now
            let closed = try #require(await connection.closed(within: .seconds(15)), "still open after 15 s")
            #expect(closed - started >= .milliseconds(900), "closed after \(closed - started)")
        }
    }

    /// The answer's own time, and a pause between requests shorter than the idle timeout, count for neither
    /// limit; two requests sent in one write (pipelined) are both answered.
    @Test func slowAnswersPausesAndPipelinedRequestsAreServed() async throws {
        try await Self.withServer(read: .seconds(1), idle: .seconds(30)) { port in
            let connection = try await RawConnection(port: port)
            try await connection.send("GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(await connection.waitFor("slow", within: .seconds(10)), "\(connection.received)")
            try await Task.sleep(for: .milliseconds(1500))
            try await connection.send("GET /fast HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(await connection.waitFor("fast", within: .seconds(10)), "\(connection.received)")
            try await connection.send(
                "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabcGET /slow HTTP/1.1\r\nHost: test\r\n\r\n"
            )
            #expect(await connection.waitFor("3 bytes", within: .seconds(10)), "\(connection.received)")
            #expect(await connection.waitFor("slowfast3 bytesslow", within: .seconds(10), stripped: true), "\(connection.received)")
            #expect(connection.isOpen)
        }
    }
}

/// A plain TCP connection that records what it receives and when it was closed.
final class RawConnection: Sendable {
    let channel: any Channel
    private let state: Received

    final class Received: Sendable {
        let text = Mutex("")
        let closedAt = Mutex<ContinuousClock.Instant?>(nil)
    }

    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let state: Received
        init(_ state: Received) { self.state = state }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            state.text.withLock { $0 += String(buffer: buffer) }
        }
        func channelInactive(context: ChannelHandlerContext) {
            state.closedAt.withLock { $0 = .now }
        }
    }

    /// A connection to 127.0.0.1:`port`, over TLS with `tls`.
    init(port: Int, tls: NIOSSLContext? = nil) async throws {
        let state = Received()
        self.state = state
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: nil)) }
                    try channel.pipeline.syncOperations.addHandler(Recorder(state))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }

    var received: String { state.text.withLock { $0 } }
    var isOpen: Bool { state.closedAt.withLock { $0 } == nil }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// Sends `byte` every `interval` until the server closes the connection or `limit` passes; when it closed.
    func trickle(_ byte: String, every interval: Duration, for limit: Duration) async throws -> ContinuousClock.Instant? {
        let end = ContinuousClock.now + limit
        while ContinuousClock.now < end {
            if let closed = state.closedAt.withLock({ $0 }) { return closed }
            try? await send(byte)
            try await Task.sleep(for: interval)
        }
        return state.closedAt.withLock { $0 }
    }

    func closed(within limit: Duration) async -> ContinuousClock.Instant? {
        let end = ContinuousClock.now + limit
        while ContinuousClock.now < end {
            if let closed = state.closedAt.withLock({ $0 }) { return closed }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Whether `text` arrives within `limit`; `stripped`: in the bodies alone, the responses' heads left out.
    func waitFor(_ text: String, within limit: Duration, stripped: Bool = false) async -> Bool {
        let end = ContinuousClock.now + limit
        while ContinuousClock.now < end {
            let received = self.received
            let haystack = stripped ? Self.bodies(received) : received
            if haystack.contains(text) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// The bodies of the responses in `text`, joined (each response's head dropped).
    static func bodies(_ text: String) -> String {
        text.components(separatedBy: "HTTP/1.1 ").compactMap { response in
            response.range(of: "\r\n\r\n").map { String(response[$0.upperBound...]) }
        }.joined()
    }
}
