import Foundation

/// An identity that is a UUID, printed lowercase (as every response shows ids).
public protocol UUIDIdentity: Hashable, Sendable, Codable, CustomStringConvertible {
    var uuid: UUID { get }
    init(_ uuid: UUID)
}

extension UUIDIdentity {
    public init?(_ text: String) {
        guard let uuid = UUID(uuidString: text) else { return nil }
        self.init(uuid)
    }

    public var description: String { uuid.uuidString.lowercased() }

    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(UUID.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The identity of an album, which is also the id of its event stream.
public struct AlbumID: UUIDIdentity {
    public let uuid: UUID
    public init(_ uuid: UUID = UUID()) { self.uuid = uuid }
}

/// The identity of a song within its album.
public struct SongID: UUIDIdentity {
    public let uuid: UUID
    public init(_ uuid: UUID = UUID()) { self.uuid = uuid }
}
