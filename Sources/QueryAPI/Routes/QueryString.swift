import HTTPEdge

/// A read's query string, parsed strictly: only the names the endpoint knows, each at most once, values
/// percent-decoded (`+` is a space) to valid UTF-8 without control characters. Anything else is the
/// client's mistake and a 400 that says which parameter and why, never a 5xx further down.
struct QueryString {
    static let maxLength = 4096

    private var values: [String: String] = [:]

    init(_ raw: String?, allowed: [String]) throws {
        guard let raw, !raw.isEmpty else { return }
        guard raw.utf8.count <= Self.maxLength else {
            throw Self.problem(nil, "the query string is longer than \(Self.maxLength) bytes")
        }
        // Split on bytes: `&` or `=` followed by a combining mark is one Character, so a Character split
        // would miss it.
        for pair in raw.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false).map { Substring($0) }
            let name = try Self.decode(parts[0], parameter: nil)
            guard allowed.contains(name) else {
                throw Self.problem(nil, "unknown parameter \"\(name.prefix(40))\"; this endpoint takes \(allowed.joined(separator: ", "))")
            }
            guard values[name] == nil else { throw Self.problem(name, "given more than once") }
            values[name] = parts.count > 1 ? try Self.decode(parts[1], parameter: name) : ""
        }
    }

    /// The parameter's value; nil when it is absent or empty (`?q=` searches nothing, as a blank search box).
    func text(_ name: String, maxCharacters: Int) throws -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        // Unicode scalars, as the OpenAPI document's maxLength counts them.
        guard value.unicodeScalars.count <= maxCharacters else { throw Self.problem(name, "at most \(maxCharacters) characters") }
        return value
    }

    /// `limit`: an integer in `range`, `default` when absent. Present but empty (`?limit=`) is no integer.
    func integer(_ name: String, in range: ClosedRange<Int>, default fallback: Int) throws -> Int {
        guard let value = values[name] else { return fallback }
        guard value.utf8.count <= 6, value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let number = Int(value),
            range.contains(number)
        else {
            throw Self.problem(name, "an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    static func problem(_ parameter: String?, _ message: String) -> Problem {
        Problem(
            .badRequest,
            "Invalid query parameter",
            detail: parameter.map { "\($0): \(message)" } ?? message,
            errors: parameter.map { [Problem.FieldProblem(field: $0, message: message)] }
        )
    }

    /// Percent-decodes one name or value into a string of printable characters.
    private static func decode(_ encoded: Substring, parameter: String?) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encoded.utf8.count)
        var iterator = encoded.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw problem(parameter, "a % must be followed by two hexadecimal digits")
                }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw problem(parameter, "not valid UTF-8") }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw problem(parameter, "control characters are not allowed")
        }
        return text
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
