import Crypto

/// A Lua script run with EVALSHA; when Redis does not know it (after a restart or SCRIPT FLUSH), the client
/// loads it with SCRIPT LOAD and runs it again, transparently.
public struct RedisScript: Sendable, Hashable {
    public let source: String
    /// The script's SHA-1, the name Redis knows it by.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        // Redis names a script by its SHA-1 (not a security use here: the digest is only its name).
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
