import EventStore
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

@Suite struct RequestFingerprintTests {
    @Test func matchesTheStandardSHA256Vectors() {
        #expect(RequestFingerprint.of([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(RequestFingerprint.of("abc".utf8) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            RequestFingerprint.of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        )
        #expect(
            RequestFingerprint.of(Array(repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        )
    }
}
