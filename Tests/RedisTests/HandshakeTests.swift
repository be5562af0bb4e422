import NIOCore
import NIOPosix
import Redis
import Testing

/// The handshake (AUTH) of a new connection gets the longer of the connect and command timeouts, not only
/// the command timeout: against a local server that answers AUTH late or never. No cluster needed.
@Suite struct HandshakeTests {
    @Test func anAuthAnsweredAfterTheCommandTimeoutButWithinTheConnectTimeoutConnects() async throws {
        // AUTH answered after 2.5 s: past the 1 s command timeout, within the 30 s connect timeout. The
        // command timeout stays 1 s, not less, so that the PING after it is answered on a loaded machine.
        try await withSilentServer(answeringAuthAfter: .milliseconds(2500)) { port in
            var configuration = RedisClient.Configuration(host: "127.0.0.1", port: port, password: "secret")
            configuration.poolSize = 1
            configuration.commandTimeout = .seconds(1)
            configuration.connectTimeout = .seconds(30)
            let redis = try RedisClient(configuration: configuration)
            #expect(try await redis.send("PING") == .status("PONG"))
            await redis.shutdown()
        }
    }

    @Test func anAuthNeverAnsweredFailsAfterTheLongerOfTheTwoTimeouts() async throws {
        try await withSilentServer(answeringAuthAfter: nil) { port in
            var configuration = RedisClient.Configuration(host: "127.0.0.1", port: port, password: "secret")
            configuration.poolSize = 1
            configuration.commandTimeout = .milliseconds(1500)
            configuration.connectTimeout = .milliseconds(200)
            let redis = try RedisClient(configuration: configuration)
            let started = ContinuousClock.now
            let error = await #expect(throws: RedisError.self) { try await redis.send("PING") }
            #expect(error?.code == .connectionFailed)
            #expect(error.map { "\($0)" }?.contains("secret") == false)
            // Not at the 200 ms connect timeout: the 1.5 s command timeout, the longer (a timer never fires
            // early; the upper bound is loose for a machine the whole suite loads).
            #expect(ContinuousClock.now - started >= .milliseconds(1450))
            #expect(ContinuousClock.now - started < .seconds(20))
            await redis.shutdown()
        }
    }

    @Test func aCommandRightAfterTheHandshakeKeepsItsOwnShorterTimeout() async throws {
        try await withSilentServer(answeringAuthAfter: .zero, answeringCommands: false) { port in
            var configuration = RedisClient.Configuration(host: "127.0.0.1", port: port, password: "secret")
            configuration.poolSize = 1
            configuration.commandTimeout = .milliseconds(200)
            configuration.connectTimeout = .seconds(30)
            let redis = try RedisClient(configuration: configuration)
            let started = ContinuousClock.now
            let error = await #expect(throws: RedisError.self) { try await redis.send("PING") }
            #expect(error?.code == .timeout)
            // The 200 ms command timeout, not the handshake's 30 s (loose for a loaded machine).
            #expect(ContinuousClock.now - started < .seconds(10))
            await redis.shutdown()
        }
    }
}

/// Runs `body` with the port of a server that answers its first read (AUTH) with +OK after `delay`, or
/// never when `delay` is nil, and every later read with +PONG at once (or never, unless `answeringCommands`).
private func withSilentServer(
    answeringAuthAfter delay: Duration?,
    answeringCommands: Bool = true,
    _ body: (Int) async throws -> Void
) async throws {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(LateAuthHandler(delay: delay, answeringCommands: answeringCommands))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    defer { channel.close(promise: nil) }
    try await body(try #require(channel.localAddress?.port))
}

private final class LateAuthHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let delay: Duration?
    private let answeringCommands: Bool
    private var authenticated = false

    init(delay: Duration?, answeringCommands: Bool) {
        self.delay = delay
        self.answeringCommands = answeringCommands
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard authenticated else {
            authenticated = true
            guard let delay else { return }
            context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) {
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: "+OK\r\n")), promise: nil)
            }
            return
        }
        if answeringCommands { context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "+PONG\r\n")), promise: nil) }
    }
}
