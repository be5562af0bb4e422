import HTTPEdge
import Testing

@Suite struct RequestIDTests {
    @Test func newRequestIDsAre32HexDigitsAndNeverRepeat() {
        var seen = Set<String>()
        var malformed: [String] = []
        for _ in 0..<100_000 {
            let id = RequestIDs.next()
            // One expectation at the end: 100,000 of them would hold a cooperative thread for seconds while
            // timing-sensitive tests of other suites run.
            if id.utf8.count != 32 || !id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) {
                malformed.append(id)
            }
            seen.insert(id)
        }
        #expect(malformed.isEmpty, "\(malformed.prefix(5))")
        #expect(seen.count == 100_000)
    }
}
