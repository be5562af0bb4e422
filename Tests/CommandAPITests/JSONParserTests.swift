import Testing

@testable import CommandAPI

@Suite struct JSONParserTests {
    private func parse(_ text: String) -> JSONValue? { try? JSONParser.parse(Array(text.utf8)) }

    @Test func parsesEveryKindOfValue() {
        #expect(
            parse(#" {"a":[1,-2.5e3,true,false,null,"x\n\u00e9\ud83c\udfba"],"b":{}} "#)
                == .object([
                    "a": .array([.integer(1), .number(-2500), .bool(true), .bool(false), .null, .string("x\né🎺")]),
                    "b": .object([:]),
                ])
        )
        #expect(parse("0") == .integer(0))
        #expect(parse("99999999999999999999") == .number(1e20))
        #expect(parse(#""\/""#) == .string("/"))
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", #"{"a":1,}"#, #"{"a":1 "b":2}"#, "01", "-", "1.", ".5", "1e", "+1", "NaN", "Infinity",
        "tru", "nul", #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\x""#, "\"a\u{1}b\"", "\"open", "// c\n1",
        #"{"a":1,"a":2}"#, "[1] [2]", "1e999", #"{1:2}"#, "'single'",
    ])
    func refusesWhatRFC8259Refuses(_ text: String) {
        #expect(parse(text) == nil, "\(text)")
    }

    @Test func limitsNesting() {
        let ok = String(repeating: "[", count: 63) + String(repeating: "]", count: 63)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(parse(ok) != nil)
        #expect(parse(deep) == nil)
    }

    @Test func refusesInvalidUTF8() {
        #expect((try? JSONParser.parse([0x22, 0xC3, 0x28, 0x22])) == nil)
        #expect((try? JSONParser.parse([0x22, 0xFF, 0x22])) == nil)
    }

    @Test func canonicalFormIgnoresSpacingAndKeyOrder() throws {
        // Both must parse: two failed parses would compare nil == nil.
        let spaced = try #require(parse(#"{"b":1, "a":[true, null]}"#))
        let compact = try #require(parse(#"{"a":[true,null],"b":1}"#))
        #expect(spaced.canonical == compact.canonical)
        #expect(spaced.canonical == #"{"a":[true,null],"b":1}"#)
        #expect(try #require(parse(#"{"a":"q\"\\\n"}"#)).canonical == #"{"a":"q\"\\\u000a"}"#)
    }
}
