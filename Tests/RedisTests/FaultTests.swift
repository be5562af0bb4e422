import ClusterHarness
import Redis
import Testing

@Suite struct RedisFaultTests {
    @Test func callsFailFastWhileRedisIsDownAndRecoverInTheSameProcess() async throws {
        let cluster = try await ScratchCluster(name: "redis-restart", postgresPort: 25560, redisPort: 26382, replicas: 0)
        var configuration = try RedisClient.Configuration(url: try cluster.value("CATALOG_REDIS"))
        configuration.poolSize = 2
        let redis = try RedisClient(configuration: configuration)
        try await redis.send("SET", "k", "v")

        try await cluster.run("stop", "redis")
        for _ in 0..<3 {
            let started = ContinuousClock.now
            let error = await #expect(throws: RedisError.self) { try await redis.send("GET", "k") }
            #expect(error?.isUnavailable == true)
            #expect(ContinuousClock.now - started < .seconds(2))
        }

        try await cluster.run("start", "redis")
        #expect(try await redis.send("PING") == .status("PONG"))
        #expect(try await redis.send("SET", "k", "again") == .status("OK"))
        await redis.shutdown()
        await cluster.destroy()
    }
}
