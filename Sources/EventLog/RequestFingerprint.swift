import Crypto

/// A SHA-256 digest of a request's canonical form (swift-crypto), stored beside its idempotency key so
/// that a retry can be told from another request reusing the key. Lower-case hex, 64 characters.
public enum RequestFingerprint {
    public static func of(_ bytes: some Sequence<UInt8>) -> String {
        SHA256.hash(data: Array(bytes)).hexDigits
    }
}

extension Digest {
    /// The digest as lower-case hex.
    var hexDigits: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(Self.byteCount * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
