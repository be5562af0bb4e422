/// An `If-Match` header (RFC 9110 §13.1.1) against an album, whose strong ETag is `"<version>"`.
///
/// `*` asks only that the album exists; a list of entity tags asks that the album's ETag is one of
/// them, compared strongly: a weak tag (`W/"3"`) or a tag that is not a version never matches, so it
/// is answered 412, not 400. A header that is not the RFC's grammar is a client error.
enum IfMatch: Equatable, Sendable {
    case anyVersion
    case oneOf(Set<Int>)

    /// Nil for a value that is not `*` or a comma-separated list of entity tags.
    init?(_ header: String) {
        let bytes = Array(header.utf8)
        var index = 0
        func skipSpaces() { while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 } }

        skipSpaces()
        if index < bytes.count, bytes[index] == UInt8(ascii: "*") {
            index += 1
            skipSpaces()
            guard index == bytes.count else { return nil }
            self = .anyVersion
            return
        }
        var versions = Set<Int>()
        var tags = 0
        // #entity-tag: elements separated by commas, empty elements allowed, at least one tag.
        while true {
            skipSpaces()
            if index < bytes.count, bytes[index] != UInt8(ascii: ",") {
                var weak = false
                if bytes[index] == UInt8(ascii: "W"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/") {
                    weak = true
                    index += 2
                }
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
                index += 1
                let start = index
                // etagc = %x21 / %x23-7E (the RFC's obs-text too, but no ETag of this service has it, and
                // the OpenAPI document's pattern leaves it out)
                while index < bytes.count, bytes[index] == 0x21 || (0x23...0x7E).contains(bytes[index]) { index += 1 }
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
                let opaque = bytes[start..<index]
                index += 1
                tags += 1
                if !weak, let version = Self.version(opaque) { versions.insert(version) }
                skipSpaces()
            }
            if index == bytes.count { break }
            guard bytes[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
        guard tags > 0 else { return nil }
        self = .oneOf(versions)
    }

    /// Whether an album at this version meets the condition.
    func admits(_ version: Int) -> Bool {
        switch self {
        case .anyVersion: true
        case .oneOf(let versions): versions.contains(version)
        }
    }

    /// The version an ETag's opaque part names: decimal digits as the service writes them, no sign, no
    /// leading zero.
    private static func version(_ opaque: ArraySlice<UInt8>) -> Int? {
        guard let first = opaque.first, opaque.count <= 18, opaque.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        guard first != UInt8(ascii: "0") || opaque.count == 1 else { return nil }
        return opaque.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }
}
