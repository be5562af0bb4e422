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

    @Test("the lag in seconds is the time since the primary was first seen past the replayed position")
    func behind() {
        var positions = PrimaryPositions()
        for step in 0..<40 { positions.record(UInt64(100 * (step + 1)), at: at(250 * step)) }
        // Replayed 1,000 (seen at 2,250 ms); the primary was first past it at 2,500 ms.
        let lag = positions.lag(ofReplayed: 1_000, at: at(9_750))
        #expect(lag.bytes == 3_000)
        #expect(abs(lag.seconds - 7.25) < 0.001)
        // Just behind the newest sample: as old as that sample.
        #expect(abs(positions.lag(ofReplayed: 3_950, at: at(9_760)).seconds - 0.01) < 0.001)
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
        #expect(lag.seconds < 0.1, "\(lag.seconds)")
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
