import Foundation
import HTTPEdge

/// Where a page ended, bound to what was asked: the list's cursor carries a fingerprint of its `q` and
/// `artist`, the history's carries its album. Clients see base64url text and send it back unchanged as
/// `after`; one that does not decode, or that belongs to another query or album, is a 400. The cursor
/// is not secret and need not be: any position it names is one the client could have paged to.
enum PageCursor: Equatable {
    /// The list: after the album (title, id), for the query with this fingerprint.
    case albums(query: UInt64, title: String, id: UUID)
    /// An album's history: after this version.
    case history(album: UUID, version: Int)

    static let maxEncodedLength = 2048

    var encoded: String {
        let text =
            switch self {
            case .albums(let query, let title, let id): "a1\n\(String(query, radix: 16))\n\(id.uuidString.lowercased())\n\(title)"
            case .history(let album, let version): "h1\n\(album.uuidString.lowercased())\n\(version)"
            }
        // base64url without padding, byte by byte (Foundation's replacingOccurrences was a tenth of a list
        // page's CPU time).
        var base64url = Data(text.utf8).base64EncodedData()
        base64url.removeAll { $0 == UInt8(ascii: "=") }
        for index in base64url.indices {
            switch base64url[index] {
            case UInt8(ascii: "+"): base64url[index] = UInt8(ascii: "-")
            case UInt8(ascii: "/"): base64url[index] = UInt8(ascii: "_")
            default: break
            }
        }
        return String(decoding: base64url, as: UTF8.self)
    }

    init?(encoded: String) {
        guard encoded.utf8.count <= Self.maxEncodedLength, encoded.utf8.allSatisfy(Self.isBase64URL) else { return nil }
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(validating: data, as: UTF8.self) else { return nil }
        let fields = text.split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false)
        switch fields.first {
        case "a1":
            guard fields.count == 4, let query = UInt64(fields[1], radix: 16), let id = Self.uuid(fields[2]), !fields[3].isEmpty,
                !fields[3].unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { return nil }
            self = .albums(query: query, title: String(fields[3]), id: id)
        case "h1":
            guard fields.count == 3, let album = Self.uuid(fields[1]), let version = Int(fields[2]), version >= 1, version < Int32.max
            else { return nil }
            self = .history(album: album, version: version)
        default:
            return nil
        }
    }

    /// The fingerprint of a list query (FNV-1a, 64 bits): the same `q` and `artist` give the same value.
    static func fingerprint(q: String?, artist: String?) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "q=\(q ?? "")\nartist=\(artist ?? "")".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    static func invalid(_ message: String) -> Problem {
        QueryString.problem("after", message)
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }

    private static func uuid(_ text: Substring) -> UUID? {
        text.utf8.count == 36 ? UUID(uuidString: String(text)) : nil
    }
}
