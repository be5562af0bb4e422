import CatalogCore
import Foundation
import Testing

@Suite struct IdentifierTests {
    @Test func uuidsParseAsFoundationParsesThem() {
        // One expectation for all: thousands would hold a cooperative thread while other suites time things.
        let mismatches = (0..<1000).map { _ in UUID() }.filter { uuid in
            UUID(text: uuid.uuidString) != uuid || UUID(text: uuid.uuidString.lowercased()) != uuid
                || uuid.lowercasedString != uuid.uuidString.lowercased()
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
        #expect(UUID(text: "00000000-0000-0000-0000-000000000000") == UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        #expect(UUID(text: "FFFFFFFF-ffff-FFFF-ffff-FFFFFFFFFFFF")?.lowercasedString == "ffffffff-ffff-ffff-ffff-ffffffffffff")
    }

    @Test(arguments: [
        "", "not-a-uuid", "12345678-1234-1234-1234-1234567890123", "12345678-1234-1234-1234-12345678901",
        "12345678-1234-1234-1234_123456789012", "123456781-234-1234-1234-123456789012", "12345678-1234-1234-1234-12345678901g",
        "{2345678-1234-1234-1234-123456789012", "12345678-1234-1234-1234-12345678901\u{0}", "１2345678-1234-1234-1234-123456789012",
        "12345678123412341234123456789012",
    ])
    func malformedUUIDsAreRejected(_ text: String) {
        #expect(UUID(text: text) == nil)
        #expect(AlbumID(text) == nil)
    }

    @Test func substringsParseToo() {
        let uuid = UUID()
        let text = "album:\(uuid.uuidString):view"
        #expect(UUID(text: text.dropFirst(6).dropLast(5)) == uuid)
    }
}
