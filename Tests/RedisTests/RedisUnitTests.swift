import Redis
import Testing

@Suite struct ConfigurationTests {
    @Test func parsesEveryPartOfARedisURL() throws {
        let configuration = try RedisClient.Configuration(url: "redis://:p%40ss@127.0.0.1:56379/3")
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 56379)
        #expect(configuration.password == "p@ss")
        #expect(configuration.username == nil)
        #expect(configuration.database == 3)
        let withUser = try RedisClient.Configuration(url: "redis://app:secret@localhost")
        #expect(withUser.username == "app")
        #expect(withUser.port == 6379)
        #expect(withUser.database == 0)
    }

    @Test(arguments: ["http://host", "redis://", "redis://host:99999", "redis://host/notanumber", "not a url at all :secret@"])
    func rejectsMalformedURLsWithoutQuotingThem(_ url: String) {
        let error = #expect(throws: RedisError.self) { try RedisClient.Configuration(url: url) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error.map { !$0.debugDescription.contains("secret") } == true)
    }

    @Test func theDescriptionHidesThePassword() throws {
        let configuration = try RedisClient.Configuration(url: "redis://:topsecret@host:1/0")
        #expect(!"\(configuration)".contains("topsecret"))
    }
}

@Suite struct ScriptTests {
    @Test func scriptsAreNamedByTheirSHA1() {
        #expect(RedisScript("").sha1 == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(RedisScript("abc").sha1 == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(
            RedisScript("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").sha1 == "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        )
        #expect(RedisScript(String(repeating: "a", count: 1000)).sha1 == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }

    @Test func commandsCarryTheirArgumentsAsBytes() {
        let command = RedisCommand("SET", "key", [UInt8]([0, 255]), 42)
        #expect(command.arguments == [Array("SET".utf8), Array("key".utf8), [0, 255], Array("42".utf8)])
        #expect(command.name == "SET")
    }
}
