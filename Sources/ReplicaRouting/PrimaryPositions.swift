/// The primary's WAL positions as health checks saw them, each with the time it was first and last seen:
/// how far behind a replica is in bytes and in time. A replica's lag in seconds is the time since the
/// primary passed the position the replica has replayed, so it measures how old the newest WAL the
/// replica lacks is, not how long ago its last transaction was: an idle spell, or a long vacuum that
/// writes WAL without committing, does not make a caught-up replica look behind. The primary passed that
/// position between two checks (the last that saw it at or before it, the first that saw it past); the
/// moment is placed between them in proportion to the WAL written, so that a replica a steady 300 ms
/// behind measures 300 ms, not the 200 ms of the check before (the fault suite found that). Pure: the
/// caller gives the time.
public struct PrimaryPositions: Sendable {
    public struct Sample: Sendable, Equatable {
        public let position: UInt64
        public let seen: ContinuousClock.Instant
        /// The last check that still found the primary at this position.
        public internal(set) var lastSeen: ContinuousClock.Instant
    }

    /// Positions in increasing order, each first seen at `seen`.
    public private(set) var samples: [Sample] = []
    /// Samples older than this are dropped; a replica behind all that remain is at least this far behind.
    public let horizon: Duration

    public init(horizon: Duration = .seconds(300)) {
        self.horizon = horizon
    }

    /// The primary's position at `now`. A position not past the last one adds no sample.
    public mutating func record(_ position: UInt64, at now: ContinuousClock.Instant) {
        if let last = samples.last, position <= last.position {
            samples[samples.count - 1].lastSeen = max(last.lastSeen, now)
            return
        }
        samples.append(Sample(position: position, seen: now, lastSeen: now))
        if let keep = samples.firstIndex(where: { now - $0.seen <= horizon }), keep > 0 {
            // Keep the newest sample before the horizon too: it bounds the lag of a replica behind all others.
            samples.removeFirst(keep - 1)
        }
    }

    /// Bytes and seconds a replica that has replayed up to `replayed` is behind the newest position seen.
    /// Before any position was seen (the primary unreachable since start), nothing is known to be missing.
    public func lag(ofReplayed replayed: UInt64, at now: ContinuousClock.Instant) -> (bytes: Int64, seconds: Double) {
        guard let newest = samples.last, newest.position > replayed else { return (0, 0) }
        let index = samples.firstIndex { $0.position > replayed }!
        let firstPast = samples[index]
        var passed = firstPast.seen
        if index > 0 {
            // Between the last check at or before `replayed` and the first past it, in proportion to the WAL.
            let before = samples[index - 1]
            let fraction = Double(replayed - before.position) / Double(firstPast.position - before.position)
            passed = before.lastSeen + (firstPast.seen - before.lastSeen) * fraction
        }
        let age = now - passed
        return (Int64(clamping: newest.position - replayed), max(0, Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18))
    }
}
