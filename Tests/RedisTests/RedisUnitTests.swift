import Foundation
import NIOCore
import Testing

@testable import Redis

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

    @Test func parsesATLSURLWithItsFiles() throws {
        let plain = try RedisClient.Configuration(url: "redis://app:secret@localhost")
        #expect(plain.tls == nil)
        let system = try RedisClient.Configuration(url: "rediss://app:secret@cache.example.org:6380/1")
        #expect(system.tls == .init())
        #expect(system.host == "cache.example.org" && system.port == 6380 && system.database == 1)
        let files = try RedisClient.Configuration(
            url: "rediss://app:secret@127.0.0.1:6380/0?ssl_ca_certs=/etc/ca.crt&ssl_certfile=/etc/me.crt&ssl_keyfile=/etc/me.key"
        )
        #expect(files.tls == .init(caFile: "/etc/ca.crt", certificateFile: "/etc/me.crt", keyFile: "/etc/me.key"))
        #expect("\(files)".hasPrefix("rediss://") && !"\(files)".contains("secret"))
    }

    @Test(arguments: [
        "http://host", "redis://", "redis://host:99999", "redis://host/notanumber", "not a url at all :secret@",
        "redis://:secret@host?ssl_ca_certs=/ca.crt", "rediss://:secret@host?ssl_certfile=/me.crt", "rediss://:secret@host?sslmode=on",
        "rediss://:secret@host?ssl_ca_certs=",
    ])
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

    @Test func everyKindOfArgumentIsEncodedAsItsBytes() {
        let text = "é\r\n☃"
        let command = RedisCommand("X", text, text.dropFirst(), Int.min, -7, 0, Int.max, Data([1, 2]), String(repeating: "y", count: 300))
        let expected: [[UInt8]] = [
            Array("X".utf8), Array(text.utf8), Array(text.dropFirst().utf8), Array("\(Int.min)".utf8), Array("-7".utf8), Array("0".utf8),
            Array("\(Int.max)".utf8), [1, 2], Array(String(repeating: "y", count: 300).utf8),
        ]
        #expect(command.arguments == expected)
        let head: [UInt8] = Array("*9\r\n$1\r\nX\r\n$7\r\n".utf8) + Array(text.utf8)
        #expect(command.encoded.starts(with: head))
    }
}

@Suite struct RESPTests {
    @Test func commandsAreEncodedAsArraysOfBulkStrings() {
        let buffer = RESP.encode(
            [RedisCommand("SET", "k", [UInt8]([0, 13, 10, 255])), RedisCommand("PING"), RedisCommand("ECHO", String(repeating: "x", count: 1234))],
            allocator: ByteBufferAllocator()
        )
        let expected =
            Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n".utf8) + [0, 13, 10, 255] + Array("\r\n*1\r\n$4\r\nPING\r\n".utf8)
            + Array("*2\r\n$4\r\nECHO\r\n$1234\r\n\(String(repeating: "x", count: 1234))\r\n".utf8)
        #expect(Array(buffer.readableBytesView) == expected)
    }

    @Test func anEmptyArgumentIsAnEmptyBulkString() {
        let buffer = RESP.encode([RedisCommand("GET", "")], allocator: ByteBufferAllocator())
        #expect(String(buffer: buffer) == "*2\r\n$3\r\nGET\r\n$0\r\n\r\n")
    }
}
