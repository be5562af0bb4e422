import ClusterHarness
import Foundation
import Redis
import Testing

@Suite(Cluster.needed) struct RedisClientTests {
    @Test func binaryValuesRoundTripUnchanged() async throws {
        // A 1 MiB value, while the whole suite starts on two cores: a generous deadline for the round trip.
        let redis = try mainRedis(commandTimeout: .seconds(15))
        let key = uniqueKey("binary")
        for value in [[UInt8](), Array(0...255), [0, 0, 0], Array(repeating: 0xFF, count: 1 << 20)] {
            try await redis.send("SET", key, value, "PX", 10_000)
            #expect(try await redis.send("GET", key).bytes == value)
        }
        try await redis.send("SET", [UInt8]([0, 13, 10, 0]), "nul key", "PX", 10_000)
        #expect(try await redis.send("GET", [UInt8]([0, 13, 10, 0])).string == "nul key")
        #expect(try await redis.send("GET", uniqueKey("missing")) == .null)
    }

    @Test func aPipelineOfAThousandCommandsAnswersInOrder() async throws {
        let redis = try mainRedis()
        let prefix = uniqueKey("pipeline")
        let sets = (0..<500).map { RedisCommand("SET", "\(prefix):\($0)", "value-\($0)", "PX", 10_000) }
        let gets = (0..<500).map { RedisCommand("GET", "\(prefix):\($0)") }
        let replies = try await redis.pipeline(sets + gets)
        #expect(replies.count == 1000)
        #expect(replies[..<500].allSatisfy { $0 == .status("OK") })
        #expect(replies[500...].enumerated().allSatisfy { $0.element.string == "value-\($0.offset)" })
    }

    @Test func anErrorReplyInAPipelineStaysInItsPlace() async throws {
        let redis = try mainRedis()
        let key = uniqueKey("wrongtype")
        let replies = try await redis.pipeline([
            RedisCommand("SET", key, "text", "PX", 10_000), RedisCommand("LPUSH", key, "x"), RedisCommand("GET", key),
        ])
        #expect(replies[0] == .status("OK"))
        guard case .error(let message) = replies[1] else {
            Issue.record("expected an error reply, got \(replies[1])")
            return
        }
        #expect(message.hasPrefix("WRONGTYPE"))
        #expect(replies[2].string == "text")
        let error = await #expect(throws: RedisError.self) { try await redis.send("LPUSH", key, "x") }
        #expect(error?.code == .server)
        #expect(error?.kind == "WRONGTYPE")
    }

    @Test func sixtyFourTasksShareThePool() async throws {
        let redis = try mainRedis(poolSize: 4)
        let key = uniqueKey("counter")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 { group.addTask { try await redis.send("INCR", key) } }
            try await group.waitForAll()
        }
        #expect(try await redis.send("GET", key).integer == 64)
        try await redis.send("DEL", key)
    }

    @Test func concurrentCallsOnOneConnectionEachGetTheirOwnReplies() async throws {
        // One connection: every command of the 400 tasks shares it, and replies are matched in order.
        let redis = try mainRedis(poolSize: 1)
        let prefix = uniqueKey("own")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<400 {
                group.addTask {
                    let key = "\(prefix):\(task)"
                    if task % 4 == 0 {
                        let replies = try await redis.pipeline([
                            RedisCommand("SET", key, "value-\(task)", "PX", 10_000), RedisCommand("GET", key), RedisCommand("STRLEN", key),
                        ])
                        #expect(replies == [.status("OK"), .bulk(Array("value-\(task)".utf8)), .integer("value-\(task)".utf8.count)])
                    } else {
                        try await redis.send("SET", key, "value-\(task)", "PX", 10_000)
                        #expect(try await redis.send("GET", key).string == "value-\(task)")
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func aTimedOutCallIsBoundedAndTheReconnectedContextKeepsItsTimeoutAndPassword() async throws {
        let redis = try mainRedis(poolSize: 1, commandTimeout: .milliseconds(300))
        let key = uniqueKey("blocking")
        for _ in 0..<2 {
            let started = ContinuousClock.now
            // BLPOP would block 30 s; the 300 ms command timeout ends it (the bound is loose: the whole suite
            // may be starting on two cores).
            let error = await #expect(throws: RedisError.self) { try await redis.send("BLPOP", key, 30) }
            #expect(error?.code == .timeout)
            #expect(ContinuousClock.now - started < .seconds(10))
            // The context was replaced: this only works if AUTH ran again on the new one.
            #expect(try await redis.send("PING") == .status("PONG"))
        }
    }

    @Test func aConnectionKilledByTheServerIsReplaced() async throws {
        let redis = try mainRedis(poolSize: 1)
        let id = try #require(try await redis.send("CLIENT", "ID").integer)
        let admin = try mainRedis(poolSize: 1)
        try await admin.send("CLIENT", "KILL", "ID", id)
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await redis.send("PING") == .status("PONG"))
        #expect(try await redis.send("CLIENT", "ID").integer != id)
    }

    @Test func aWrongPasswordIsAClearErrorWithoutThePassword() async throws {
        var configuration = try RedisClient.Configuration(url: try Cluster.value("CATALOG_REDIS"))
        let real = configuration.password ?? ""
        configuration.password = "hunter2-wrong"
        // Generous: the whole suite on two cores can make the AUTH round trip slow.
        configuration.connectTimeout = .seconds(5)
        let redis = try RedisClient(configuration: configuration)
        let error = await #expect(throws: RedisError.self) { try await redis.send("PING") }
        #expect(error?.code == .authenticationFailed)
        for text in [error.map { "\($0)" }, error?.debugDescription].compactMap({ $0 }) {
            #expect(!text.contains("hunter2"))
            #expect(!text.contains(real))
        }
    }
}
