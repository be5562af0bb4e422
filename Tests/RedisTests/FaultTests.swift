import ClusterHarness
import Redis
import Testing

@Suite(Cluster.needed) struct RedisFaultTests {
    @Test func callsFailFastWhileRedisIsDownAndRecoverInTheSameProcessAndScriptsSurviveAFlush() async throws {
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
            // Refused at once: an error, not a hang (loose for a machine loaded by the whole suite).
            #expect(ContinuousClock.now - started < .seconds(10))
        }

        try await cluster.run("start", "redis")
        #expect(try await redis.send("PING") == .status("PONG"))
        #expect(try await redis.send("SET", "k", "again") == .status("OK"))

        // A script runs again after SCRIPT FLUSH (here, on this cluster's own Redis: on the shared one the
        // flush would hit every other suite's scripts between their SCRIPT LOAD and EVALSHA).
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(try await redis.run(script, keys: ["counter"], arguments: [5]).integer == 5)
        try await redis.send("SCRIPT", "FLUSH")
        #expect(try await redis.run(script, keys: ["counter"], arguments: [2]).integer == 7)
        await redis.shutdown()
        await cluster.destroy()
    }
}
