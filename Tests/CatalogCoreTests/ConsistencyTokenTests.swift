import CatalogCore
import Testing

@Suite struct ConsistencyTokenTests {
    @Test func ordersByTransactionThenPosition() {
        let tokens = [
            ConsistencyToken(transaction: 9, position: 100), ConsistencyToken(transaction: 10, position: 1),
            ConsistencyToken(transaction: 10, position: 2), .origin,
        ]
        #expect(tokens.sorted() == [.origin, tokens[0], tokens[1], tokens[2]])
        #expect(ConsistencyToken(transaction: 10, position: 1) > ConsistencyToken(transaction: 9, position: 100))
    }

    @Test func printsAndParsesTheSameText() {
        let token = ConsistencyToken(transaction: UInt64.max, position: Int64.max)
        #expect(ConsistencyToken(token.description) == token)
        #expect(ConsistencyToken("48213.1207") == ConsistencyToken(transaction: 48213, position: 1207))
        #expect(ConsistencyToken("0.0") == .origin)
    }

    @Test(arguments: [
        "", ".", "1.", ".1", "1.2.3", "-1.2", "1.-2", "+1.2", " 1.2", "1.2 ", "01.2", "1.02", "a.b", "1,2", "1e3.2",
        "18446744073709551616.1", "1.9223372036854775808", "１.２", "1.2\u{0}",
    ])
    func rejectsAnythingElse(_ text: String) {
        #expect(ConsistencyToken(text) == nil)
    }
}
