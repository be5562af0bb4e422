/// A point in the event log's commit-safe order: the id of the transaction that wrote an event and the
/// event's position. Totally ordered; every event that becomes visible later has a greater token.
/// Clients see it as an opaque string; comparing, parsing and printing live here and nowhere else.
public struct ConsistencyToken: Hashable, Comparable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    public let transaction: UInt64
    public let position: Int64

    /// Before the first event.
    public static let origin = ConsistencyToken(transaction: 0, position: 0)

    public init(transaction: UInt64, position: Int64) {
        self.transaction = transaction
        self.position = position
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.transaction, lhs.position) < (rhs.transaction, rhs.position)
    }

    /// `<transaction>.<position>` in decimal, e.g. `48213.1207`.
    public var description: String { "\(transaction).\(position)" }

    /// Parses exactly what `description` prints: two decimal numbers without signs, spaces or leading zeros.
    public init?(_ text: String) {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy(Self.isCanonicalNumber),
            let transaction = UInt64(Substring(parts[0])), let position = Int64(Substring(parts[1]))
        else { return nil }
        self.init(transaction: transaction, position: position)
    }

    private static func isCanonicalNumber(_ digits: Substring.UTF8View.SubSequence) -> Bool {
        guard !digits.isEmpty, digits.count <= 20, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return false
        }
        return digits.count == 1 || digits.first != UInt8(ascii: "0")
    }
}
