import ClusterHarness
import Foundation
import Logging
import Redis
import Testing

@testable import HotViews

/// Least privilege in Redis (the ACL users `infra/cluster` makes): query-api's user may read views and run
/// the fill script (with its lease), command-api's may run the fence script; each is refused everything
/// else, and the default user is off.
@Suite(Cluster.needed) struct RedisACLTests {
    static func client(_ variable: String) throws -> RedisClient {
        var configuration = try RedisClient.Configuration(url: try Cluster.value(variable))
        configuration.connectTimeout = .seconds(5)
        return try RedisClient(configuration: configuration)
    }

    /// The first word of the error `body` fails with ("NOPERM", ...), nil when it succeeds.
    static func refusal(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let error as RedisError {
            return error.kind ?? error.code.description
        } catch {
            return "\(error)"
        }
    }

    /// What no service may do, on any key. (DEBUG is renamed away for every user.)
    static let forbidden: [[String]] = [
        ["FLUSHALL"], ["FLUSHDB"], ["CONFIG", "GET", "maxmemory"], ["KEYS", "*"], ["SCAN", "0"], ["ACL", "LIST"],
        ["SHUTDOWN", "NOSAVE"], ["CLIENT", "KILL", "TYPE", "normal"], ["GET", "other:key"], ["SET", "other:key", "1"],
        ["EVAL", "return 1", "1", "other:key"],
    ]

    static func send(_ client: RedisClient, _ words: [String]) async throws {
        _ = try await client.send(RedisCommand(words[0], arguments: Array(words.dropFirst())))
    }

    @Test func queryAPIsUserReadsAndFillsViewsAndNothingElse() async throws {
        let client = try Self.client("CATALOG_QUERY_REDIS")
        defer { Task { await client.shutdown() } }
        let cache = ViewCache(client: client, logger: Logger(label: "test"))
        let id = UUID()
        #expect(await cache.lookup(id, token: nil) == .miss)
        #expect(await cache.fill(id, with: live(1, at: token(5))), "the fill script runs as query-api")
        #expect(await cache.lookup(id, token: nil) == .hit(live(1, at: token(5))))
        #expect(await cache.acquireFillLease(id))
        await cache.releaseFillLease(id)

        // Not the fence script, nor a fence written or a view deleted by hand. (A script's commands are
        // checked against its caller's rights, so the fill script's HSET and PEXPIRE on views are query-api's.)
        #expect(await Self.refusal { try await cache.raiseFences([(id, 2)]) } != nil, "query-api raised a fence")
        for words in Self.forbidden + [
            ["SET", cache.fenceKey(id), "9"], ["DEL", cache.fenceKey(id)], ["DEL", cache.viewKey(id)], ["EXPIRE", cache.fenceKey(id), "1"],
        ] {
            #expect(await Self.refusal { try await Self.send(client, words) } == "NOPERM", "query-api may \(words[0])")
        }
        #expect(await cache.lookup(id, token: nil) == .hit(live(1, at: token(5))), "the view is as it was filled")
    }

    @Test func commandAPIsUserRaisesFencesAndNothingElse() async throws {
        let client = try Self.client("CATALOG_COMMAND_REDIS")
        defer { Task { await client.shutdown() } }
        let cache = ViewCache(client: client, logger: Logger(label: "test"))
        let id = UUID()
        try await cache.raiseFences([(id, 3)])
        let admin = try Self.client("CATALOG_REDIS")
        defer { Task { await admin.shutdown() } }
        #expect(try await ViewCache(client: admin, logger: Logger(label: "test")).fence(of: id) == 3)

        for words in Self.forbidden + [["HMGET", cache.viewKey(id), "v"], ["SET", cache.leaseKey(id), "1"]] {
            #expect(await Self.refusal { try await Self.send(client, words) } == "NOPERM", "command-api may \(words[0])")
        }
        #expect(await !cache.fill(id, with: live(4, at: token(9))), "command-api filled a view")
    }

    @Test func theDefaultUserIsOff() async throws {
        let url = try Cluster.value("CATALOG_REDIS")
        var anonymous = try RedisClient.Configuration(url: url)
        anonymous.username = nil
        anonymous.password = nil
        let client = try RedisClient(configuration: anonymous)
        defer { Task { await client.shutdown() } }
        #expect(await Self.refusal { _ = try await client.send("PING") } != nil, "a connection without AUTH may PING")
        var named = anonymous
        named.username = "default"
        named.password = "anything"
        let defaultUser = try RedisClient(configuration: named)
        defer { Task { await defaultUser.shutdown() } }
        #expect(await Self.refusal { _ = try await defaultUser.send("PING") } != nil, "the default user authenticated")
    }
}
