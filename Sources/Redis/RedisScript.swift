/// A Lua script run with EVALSHA; when Redis does not know it (after a restart or SCRIPT FLUSH), the client
/// loads it with SCRIPT LOAD and runs it again, transparently.
public struct RedisScript: Sendable, Hashable {
    public let source: String
    /// The script's SHA-1, the name Redis knows it by.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hex(Array(source.utf8))
    }
}
