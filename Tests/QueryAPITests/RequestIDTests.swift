import HTTPEdge
import Testing

@Suite struct RequestIDTests {
    @Test func newRequestIDsAre32HexDigitsAndNeverRepeat() {
        var seen = Set<String>()
        for _ in 0..<100_000 {
            let id = RequestIDs.next()
            #expect(id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }, "\(id)")
            seen.insert(id)
        }
        #expect(seen.count == 100_000)
    }
}
