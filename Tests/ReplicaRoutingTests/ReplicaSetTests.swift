import CatalogCore
import EventLog
import ReplicaRouting
import Testing

/// A deterministic generator (SplitMix64) so that random choices repeat.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func healthy(
    checkpoint: ConsistencyToken? = ConsistencyToken(transaction: 100, position: 10),
    lagSeconds: Double = 0,
    lagBytes: Int64 = 0
)
    -> NodeHealth
{
    NodeHealth(reachable: true, inRecovery: true, lagBytes: lagBytes, lagSeconds: lagSeconds, checkpoint: checkpoint)
}

@Suite("Replica routing choices")
struct ReplicaSetTests {
    var generator = SeededGenerator(state: 42)

    func set(_ names: [String] = ["replica1", "replica2"]) -> ReplicaSet {
        var set = ReplicaSet(names: names)
        for name in names { set.record(healthy(), for: name) }
        return set
    }

    @Test("the choice without a caller's generator (the router's) spreads reads over equal replicas")
    func defaultGeneratorSpreads() {
        let set = set(["replica1", "replica2", "replica3"])
        var counts: [String: Int] = [:]
        for _ in 0..<3000 {
            guard case .replica(let name) = set.choose(token: nil) else {
                Issue.record("no replica chosen")
                return
            }
            counts[name, default: 0] += 1
        }
        #expect(counts.count == 3, "\(counts)")
        #expect(counts.values.allSatisfy { $0 > 800 }, "\(counts)")
    }

    @Test("before any health check no replica is usable: the primary")
    mutating func unknownNodes() {
        let set = ReplicaSet(names: ["replica1", "replica2"])
        #expect(set.choose(token: nil, using: &generator) == .primary)
    }

    @Test("healthy replicas share the reads")
    mutating func spreads() {
        let set = set()
        var counts: [String: Int] = [:]
        for _ in 0..<1000 {
            guard case .replica(let name) = set.choose(token: nil, using: &generator) else {
                Issue.record("not a replica")
                return
            }
            counts[name, default: 0] += 1
        }
        #expect(counts.keys.sorted() == ["replica1", "replica2"])
    }

    @Test("of two random choices the one with fewer reads in flight wins")
    mutating func fewestInFlight() {
        var set = set(["a", "b", "c"])
        for _ in 0..<5 { set.begin("a") }
        for _ in 0..<5 { set.begin("b") }
        // Whichever pair is drawn, "c" wins when it is in it; "a" and "b" never beat it.
        var counts: [String: Int] = [:]
        for _ in 0..<300 {
            if case .replica(let name) = set.choose(token: nil, using: &generator) { counts[name, default: 0] += 1 }
        }
        #expect(counts["c", default: 0] > 150)
        set.end("a")
        #expect(set.node(named: "a")?.inFlight == 4)
    }

    @Test("a replica past either lag bound is not chosen; back within bounds, it is")
    mutating func lagBounds() {
        var set = set()
        set.record(healthy(lagSeconds: 1.5), for: "replica1")
        for _ in 0..<50 { #expect(set.choose(token: nil, using: &generator) == .replica("replica2")) }
        set.record(healthy(lagBytes: 17 << 20), for: "replica1")
        for _ in 0..<50 { #expect(set.choose(token: nil, using: &generator) == .replica("replica2")) }
        set.record(healthy(lagSeconds: 0.9, lagBytes: 1 << 20), for: "replica1")
        #expect((0..<50).contains { _ in set.choose(token: nil, using: &generator) == .replica("replica1") })
    }

    @Test("an unreachable or promoted node is not chosen")
    mutating func unhealthy() {
        var set = set()
        set.record(.unknown, for: "replica1")
        set.record(NodeHealth(reachable: true, inRecovery: false, lagBytes: 0, lagSeconds: 0, checkpoint: nil), for: "replica2")
        #expect(set.choose(token: nil, using: &generator) == .primary)
    }

    @Test("a token goes only to a replica whose checkpoint reached it; none known yet: probe the furthest")
    mutating func tokens() {
        var set = set()
        set.record(healthy(checkpoint: ConsistencyToken(transaction: 200, position: 5)), for: "replica2")
        let token = ConsistencyToken(transaction: 150, position: 1)
        for _ in 0..<50 { #expect(set.choose(token: token, using: &generator) == .replica("replica2")) }
        // Nobody is known to have reached 300: ask the one furthest along, whose answer tells.
        let ahead = ConsistencyToken(transaction: 300, position: 0)
        for _ in 0..<50 { #expect(set.choose(token: ahead, using: &generator) == .probe("replica2")) }
        // An answer from replica1 showed it past the token: it serves the token without waiting for a check.
        set.observe(checkpoint: ConsistencyToken(transaction: 301, position: 0), on: "replica1")
        for _ in 0..<50 { #expect(set.choose(token: ahead, using: &generator) == .replica("replica1")) }
        // An older answer never moves a checkpoint back.
        set.observe(checkpoint: ConsistencyToken(transaction: 1, position: 0), on: "replica1")
        #expect(set.node(named: "replica1")?.health.checkpoint == ConsistencyToken(transaction: 301, position: 0))
        // Replicas without a checkpoint (the projection never ran) are only probed; no replica: the primary.
        set.record(healthy(checkpoint: nil), for: "replica1")
        set.record(healthy(checkpoint: nil), for: "replica2")
        guard case .probe = set.choose(token: token, using: &generator) else {
            Issue.record("expected a probe")
            return
        }
        #expect(set.choose(token: nil, using: &generator) != .primary)
        set.recordFailure(of: "replica1")
        set.recordFailure(of: "replica2")
        #expect(set.choose(token: token, using: &generator) == .primary)
    }

    @Test("a probe goes to the furthest replica; between equals, to the one with fewer reads in flight")
    mutating func probes() {
        var set = set(["a", "b", "c"])
        set.record(healthy(checkpoint: ConsistencyToken(transaction: 90, position: 0)), for: "a")
        set.begin("b")
        let token = ConsistencyToken(transaction: 500, position: 0)
        for _ in 0..<20 { #expect(set.choose(token: token, using: &generator) == .probe("c")) }
    }

    @Test("a failed read takes the node out and retries elsewhere; its next good check brings it back")
    mutating func failures() {
        var set = set()
        set.recordFailure(of: "replica1")
        for _ in 0..<50 { #expect(set.choose(token: nil, using: &generator) == .replica("replica2")) }
        #expect(set.choose(token: nil, excluding: ["replica2"], using: &generator) == .primary)
        set.record(healthy(), for: "replica1")
        #expect(set.choose(token: nil, excluding: ["replica2"], using: &generator) == .replica("replica1"))
    }

    @Test("LSNs parse as PostgreSQL prints them")
    func lsn() {
        #expect(parseLSN("0/0") == 0)
        #expect(parseLSN("16/B374D848") == 0x16_B374_D848)
        #expect(parseLSN("16B374D848") == nil)
        #expect(parseLSN("1/2/3") == nil)
        #expect(parseLSN("x/1") == nil)
        #expect(parseLSN("100000000/0") == nil)
    }
}
