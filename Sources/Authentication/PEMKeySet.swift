import Crypto
import Foundation

/// Public keys in PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo), as most identity providers and
/// `openssl pkey -pubout` give them, turned into the JWKS document `TokenVerifier` reads. PEM carries no
/// key id: a key's `kid` is its file's name without `.pem`, so a directory of `<kid>.pem` files is a key
/// set that rotates by adding and removing files.
enum PEMKeySet {
    /// The JWKS of the PEM file at `path`, or of every `*.pem` file in the directory at `path`.
    static func jwks(at path: String) throws(AuthenticationError) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .configuration("cannot read the key set \(path)")
        }
        let files: [String]
        if isDirectory.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files = names.filter { $0.hasSuffix(".pem") }.sorted().map { (path as NSString).appendingPathComponent($0) }
            guard !files.isEmpty else { throw .configuration("the key directory \(path) holds no <kid>.pem file") }
        } else {
            files = [path]
        }
        var keys: [String] = []
        for file in files {
            let kid = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw .configuration("cannot read the key \(file)") }
            keys.append(try jwk(pem: text, kid: kid, file: file))
        }
        return #"{"keys":["# + keys.joined(separator: ",") + "]}"
    }

    /// One key's JWK (public members only). Ed25519 keys are read from their SubjectPublicKeyInfo's fixed
    /// layout, P-256 keys by swift-crypto; anything else (a private key, RSA, another curve) is refused.
    static func jwk(pem: String, kid: String, file: String) throws(AuthenticationError) -> String {
        guard !pem.contains("PRIVATE KEY") else { throw .configuration("\(file) is a private key; give the service public keys only") }
        let body = pem.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = body.firstIndex(of: "-----BEGIN PUBLIC KEY-----"), let end = body.firstIndex(of: "-----END PUBLIC KEY-----"),
            begin < end, let der = Data(base64Encoded: body[(begin + 1)..<end].joined())
        else { throw .configuration("\(file) holds no PEM public key (-----BEGIN PUBLIC KEY-----)") }
        let quotedKid = String(decoding: try! JSONEncoder().encode(kid), as: UTF8.self)
        // SubjectPublicKeyInfo of an Ed25519 key (RFC 8410): this 12-byte prefix, then the 32-byte key.
        let ed25519Prefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]
        if der.count == 44, Array(der.prefix(12)) == ed25519Prefix {
            return #"{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":\#(quotedKid),"x":"\#(base64URL(der.suffix(32)))"}"#
        }
        if let key = try? P256.Signing.PublicKey(derRepresentation: der) {
            let point = key.x963Representation  // 0x04, x (32 bytes), y (32 bytes)
            let x = base64URL(point.dropFirst().prefix(32))
            let y = base64URL(point.suffix(32))
            return #"{"kty":"EC","crv":"P-256","alg":"ES256","kid":\#(quotedKid),"x":"\#(x)","y":"\#(y)"}"#
        }
        throw .configuration("\(file): only Ed25519 (EdDSA) and P-256 (ES256) public keys are accepted")
    }

    static func base64URL(_ bytes: some DataProtocol) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
