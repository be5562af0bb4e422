import ClusterHarness
import Redis

func mainRedis(poolSize: Int = 4, commandTimeout: Duration = .seconds(2)) throws -> RedisClient {
    var configuration = try RedisClient.Configuration(url: try Cluster.value("CATALOG_REDIS"))
    configuration.poolSize = poolSize
    configuration.commandTimeout = commandTimeout
    // AUTH gets the longer of this and the command timeout; the whole suite on two cores can make a reconnect slow.
    configuration.connectTimeout = .seconds(5)
    return try RedisClient(configuration: configuration)
}

/// A key no other test uses.
func uniqueKey(_ label: String) -> String {
    "test:\(label):\(UInt64.random(in: 0...UInt64.max))"
}
