import CatalogCore

/// What the last health check of a replica found.
public struct NodeHealth: Sendable, Equatable {
    /// The check got an answer.
    public var reachable: Bool
    /// The node is a standby (a promoted replica is a primary now and takes no routed reads).
    public var inRecovery: Bool
    /// WAL the node has not replayed yet, behind the primary's position at the time of the check.
    public var lagBytes: Int64
    /// How long ago the primary was first seen past what the node has replayed; 0 when caught up (see
    /// `PrimaryPositions`).
    public var lagSeconds: Double
    /// The projection checkpoint the node holds: every read it answers reflects at least this token.
    public var checkpoint: ConsistencyToken?

    public init(reachable: Bool, inRecovery: Bool, lagBytes: Int64, lagSeconds: Double, checkpoint: ConsistencyToken?) {
        self.reachable = reachable
        self.inRecovery = inRecovery
        self.lagBytes = lagBytes
        self.lagSeconds = lagSeconds
        self.checkpoint = checkpoint
    }

    /// Before the first check, or after a failed one.
    public static let unknown = NodeHealth(reachable: false, inRecovery: false, lagBytes: .max, lagSeconds: .infinity, checkpoint: nil)
}

/// The bounds a replica must keep to take reads, and what happens when none does.
public struct RoutingPolicy: Sendable, Equatable {
    /// Defaults 1 s and 16 MiB.
    public var maxLagSeconds: Double = 1
    public var maxLagBytes: Int64 = 16 << 20
    /// Read from the primary when no replica is usable (default on).
    public var primaryFallback = true
    /// Reads the primary may serve at once as a fallback; beyond it the answer is 503.
    public var primaryConcurrencyLimit = 16

    public init() {}
}

/// Parses a PostgreSQL LSN (`16/B374D848`) into its 64-bit position.
public func parseLSN(_ text: String) -> UInt64? {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16), high <= UInt32.max, low <= UInt32.max
    else { return nil }
    return high << 32 | low
}
