import ReplicaRouting
import Testing

@Suite("Primary positions and replica lag")
struct PrimaryPositionsTests {
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test("before the primary was ever seen nothing is known to be missing")
    func nothingSeen() {
        let positions = PrimaryPositions()
        #expect(positions.lag(ofReplayed: 0, at: at(0)) == (0, 0))
    }

    @Test("a replica at or past the newest position is not behind")
    func caughtUp() {
        var positions = PrimaryPositions()
        positions.record(100, at: at(0))
        positions.record(200, at: at(250))
        #expect(positions.lag(ofReplayed: 200, at: at(10_000)) == (0, 0))
        #expect(positions.lag(ofReplayed: 250, at: at(10_000)) == (0, 0))
    }

    @Test("the lag in seconds is the time since the primary passed the replayed position, placed between two checks by the WAL written")
    func behind() {
        var positions = PrimaryPositions()
        for step in 0..<40 { positions.record(UInt64(100 * (step + 1)), at: at(250 * step)) }
        // Replayed 1,000, which the primary was at when seen at 2,250 ms (and past at 2,500 ms).
        let lag = positions.lag(ofReplayed: 1_000, at: at(9_750))
        #expect(lag.bytes == 3_000)
        #expect(abs(lag.seconds - 7.5) < 0.001)
        // Halfway between 3,900 (9,500 ms) and 4,000 (9,750 ms): passed at 9,625 ms.
        #expect(abs(positions.lag(ofReplayed: 3_950, at: at(9_760)).seconds - 0.135) < 0.001)
    }

    @Test("a replica a steady 300 ms behind measures 300 ms, whatever the check interval")
    func steadyDelay() {
        // WAL written at an even 1 byte per millisecond; checks every 50, 110 or 250 ms; the replica replays what the
        // primary had 300 ms before.
        for interval in [50, 110, 250] {
            var positions = PrimaryPositions()
            var lags: [Double] = []
            for step in 1...100 {
                let now = interval * step
                positions.record(UInt64(1_000 + now), at: at(now))
                lags.append(positions.lag(ofReplayed: UInt64(1_000 + now - 300), at: at(now)).seconds)
            }
            #expect(lags.dropFirst(10).allSatisfy { abs($0 - 0.3) < 0.001 }, "interval \(interval) ms: \(lags.suffix(3))")
        }
    }

    @Test("after an idle spell, a write not yet replayed is a small lag, not the length of the spell")
    func idleThenWrite() {
        var positions = PrimaryPositions()
        positions.record(500, at: at(0))
        // Ten idle minutes: the same position again and again adds nothing.
        for step in 1...2_400 { positions.record(500, at: at(250 * step)) }
        #expect(positions.samples.count == 1)
        positions.record(600, at: at(600_250))
        let lag = positions.lag(ofReplayed: 500, at: at(600_260))
        #expect(lag.bytes == 100)
        // The primary left 500 after the last check that saw it there (600,000 ms): at most one interval.
        #expect(lag.seconds <= 0.26 + 0.001, "\(lag.seconds)")
    }

    @Test("old samples are dropped beyond the horizon, keeping the one that bounds the furthest-behind replica")
    func horizon() {
        var positions = PrimaryPositions(horizon: .seconds(10))
        for step in 0..<100 { positions.record(UInt64(step + 1), at: at(1_000 * step)) }
        #expect(positions.samples.count <= 12)
        // Behind every sample kept: at least the horizon.
        #expect(positions.lag(ofReplayed: 0, at: at(99_000)).seconds >= 10)
    }
}
