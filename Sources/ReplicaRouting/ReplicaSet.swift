import CatalogCore
import Synchronization

/// Random numbers for spreading reads, not for secrets: SplitMix64 from a seed drawn once per process and
/// advanced per use. The system generator makes a system call (getrandom) for every number, two or three
/// of them per read.
struct SpreadGenerator: RandomNumberGenerator {
    private static let seeds = Atomic<UInt64>(UInt64.random(in: .min ... .max))
    private var state: UInt64

    /// Each use starts at a scrambled point of its own, so that consecutive reads' streams do not overlap.
    init() {
        state = Self.mix(Self.seeds.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The routing state of the replicas: their health, the reads in flight on each, and which were taken
/// out after a failure. Pure: time and randomness come from the caller, so every choice is unit-tested.
public struct ReplicaSet: Sendable {
    public struct Node: Sendable, Equatable {
        public let name: String
        public var health: NodeHealth = .unknown
        public var inFlight = 0
        /// Taken out after a failed read until a health check succeeds again.
        public var failed = false
    }

    public enum Choice: Equatable, Sendable {
        /// Read from this replica.
        case replica(String)
        /// No usable replica is known to have reached the token (health checks run every 250 ms), but
        /// this one, the furthest along, may have by now: read there, and the answer's own checkpoint
        /// decides whether it may be used. Not yet: pause and choose again.
        case probe(String)
        /// No replica can serve: the primary may (subject to the policy and its concurrency limit).
        case primary
    }

    public private(set) var nodes: [Node]
    public var policy: RoutingPolicy
    /// Whether a round of health checks has completed. Until then nothing is known of the replicas, and
    /// no read should fall to the primary for want of knowing.
    public var measured = false

    public init(names: [String], policy: RoutingPolicy = .init()) {
        nodes = names.map { Node(name: $0) }
        self.policy = policy
    }

    /// Healthy, a standby, not taken out, and within the lag bounds.
    public func isUsable(_ node: Node) -> Bool {
        node.health.reachable && node.health.inRecovery && !node.failed && node.health.lagSeconds <= policy.maxLagSeconds
            && node.health.lagBytes <= policy.maxLagBytes
    }

    /// Chooses where a read goes. Among usable replicas whose checkpoint has reached `token` (any, without
    /// one), two chosen at random and the one with fewer reads in flight wins. `excluding` holds replicas
    /// this read already failed on.
    public func choose(
        token: ConsistencyToken?,
        excluding: Set<String> = [],
        using generator: inout some RandomNumberGenerator
    ) -> Choice {
        let usable = nodes.indices.filter { isUsable(nodes[$0]) && !excluding.contains(nodes[$0].name) }
        let reached = usable.filter { index in
            guard let token else { return true }
            guard let checkpoint = nodes[index].health.checkpoint else { return false }
            return checkpoint >= token
        }
        switch reached.count {
        case 0:
            let furthest = usable.max { a, b in
                let (left, right) = (nodes[a], nodes[b])
                if left.health.checkpoint != right.health.checkpoint {
                    return (left.health.checkpoint ?? .origin) < (right.health.checkpoint ?? .origin)
                }
                return left.inFlight > right.inFlight
            }
            return furthest.map { .probe(nodes[$0].name) } ?? .primary
        case 1:
            return .replica(nodes[reached[0]].name)
        default:
            let first = reached.randomElement(using: &generator)!
            var second = reached.randomElement(using: &generator)!
            while second == first { second = reached.randomElement(using: &generator)! }
            let winner = nodes[second].inFlight < nodes[first].inFlight ? second : first
            return .replica(nodes[winner].name)
        }
    }

    public func choose(token: ConsistencyToken?, excluding: Set<String> = []) -> Choice {
        var generator = SpreadGenerator()
        return choose(token: token, excluding: excluding, using: &generator)
    }

    /// A health check's result. A successful check brings a node that failed a read back into rotation.
    public mutating func record(_ health: NodeHealth, for name: String) {
        guard let index = nodes.firstIndex(where: { $0.name == name }) else { return }
        nodes[index].health = health
        if health.reachable { nodes[index].failed = false }
    }

    /// A read on the node answered with `checkpoint`: the node has reached at least that far, whatever
    /// its last health check said (checkpoints only move forward).
    public mutating func observe(checkpoint: ConsistencyToken, on name: String) {
        guard let index = nodes.firstIndex(where: { $0.name == name }) else { return }
        if nodes[index].health.checkpoint.map({ $0 < checkpoint }) ?? true {
            nodes[index].health.checkpoint = checkpoint
        }
    }

    /// A read failed on the node (connection lost, timeout): out of rotation until its next good check.
    public mutating func recordFailure(of name: String) {
        guard let index = nodes.firstIndex(where: { $0.name == name }) else { return }
        nodes[index].failed = true
    }

    public mutating func begin(_ name: String) {
        guard let index = nodes.firstIndex(where: { $0.name == name }) else { return }
        nodes[index].inFlight += 1
    }

    public mutating func end(_ name: String) {
        guard let index = nodes.firstIndex(where: { $0.name == name }) else { return }
        nodes[index].inFlight = max(0, nodes[index].inFlight - 1)
    }

    public func node(named name: String) -> Node? {
        nodes.first { $0.name == name }
    }
}
