import Foundation

/// An event as it is stored: its type name, the schema version of its payload, and the JSON payload.
public struct EncodedEvent: Equatable, Sendable {
    public var type: String
    public var schemaVersion: Int
    public var data: Data

    public init(type: String, schemaVersion: Int, data: Data) {
        self.type = type
        self.schemaVersion = schemaVersion
        self.data = data
    }
}

/// Why a stored event could not be read back.
public struct EventDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    public var type: String
    public var schemaVersion: Int
    public var reason: String
    public var description: String { "cannot decode \(type) v\(schemaVersion): \(reason)" }
}

extension AlbumEvent {
    /// The current schema version of each event type. Raise one when its payload changes, and add an
    /// upcaster from the previous version below.
    public static let schemaVersions: [String: Int] = [
        "AlbumCreated": 2, "AlbumDetailsChanged": 1, "SongAdded": 1, "SongDetailsChanged": 1,
        "SongRemoved": 1, "TrackOrderChanged": 1, "AlbumArchived": 1,
    ]

    public var typeName: String {
        switch self {
        case .created: "AlbumCreated"
        case .detailsChanged: "AlbumDetailsChanged"
        case .songAdded: "SongAdded"
        case .songDetailsChanged: "SongDetailsChanged"
        case .songRemoved: "SongRemoved"
        case .trackOrderChanged: "TrackOrderChanged"
        case .archived: "AlbumArchived"
        }
    }

    public func encoded() -> EncodedEvent {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain value types cannot fail.
        let data: Data =
            switch self {
            case .created(let e): try! encoder.encode(e)
            case .detailsChanged(let e): try! encoder.encode(e)
            case .songAdded(let e): try! encoder.encode(e)
            case .songDetailsChanged(let e): try! encoder.encode(e)
            case .songRemoved(let e): try! encoder.encode(e)
            case .trackOrderChanged(let e): try! encoder.encode(e)
            case .archived(let e): try! encoder.encode(e)
            }
        return EncodedEvent(type: typeName, schemaVersion: Self.schemaVersions[typeName]!, data: data)
    }

    /// Decodes a stored event of any schema version the catalog has ever written, upcasting older payloads.
    public init(decoding stored: EncodedEvent) throws(EventDecodingError) {
        guard let current = Self.schemaVersions[stored.type] else {
            throw EventDecodingError(type: stored.type, schemaVersion: stored.schemaVersion, reason: "unknown event type")
        }
        guard stored.schemaVersion >= 1, stored.schemaVersion <= current else {
            throw EventDecodingError(type: stored.type, schemaVersion: stored.schemaVersion, reason: "unknown schema version")
        }
        do {
            var data = stored.data
            if stored.schemaVersion < current {
                // Only older payloads take the detour through JSONSerialization that upcasting needs.
                var json = try JSONSerialization.jsonObject(with: stored.data)
                for version in stored.schemaVersion..<current {
                    guard let upcast = Upcasters.all["\(stored.type)/\(version)"] else {
                        throw EventDecodingError(type: stored.type, schemaVersion: version, reason: "no upcaster to v\(version + 1)")
                    }
                    json = try upcast(json)
                }
                data = try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed])
            }
            let decoder = JSONDecoder()
            switch stored.type {
            case "AlbumCreated": self = .created(try decoder.decode(AlbumCreated.self, from: data))
            case "AlbumDetailsChanged": self = .detailsChanged(try decoder.decode(AlbumDetailsChanged.self, from: data))
            case "SongAdded": self = .songAdded(try decoder.decode(SongAdded.self, from: data))
            case "SongDetailsChanged": self = .songDetailsChanged(try decoder.decode(SongDetailsChanged.self, from: data))
            case "SongRemoved": self = .songRemoved(try decoder.decode(SongRemoved.self, from: data))
            case "TrackOrderChanged": self = .trackOrderChanged(try decoder.decode(TrackOrderChanged.self, from: data))
            default: self = .archived(try decoder.decode(AlbumArchived.self, from: data))
            }
        } catch let error as EventDecodingError {
            throw error
        } catch {
            throw EventDecodingError(type: stored.type, schemaVersion: stored.schemaVersion, reason: "payload does not match the schema")
        }
    }
}

/// Each step turns a payload of one schema version into the next, as JSON, without needing any state.
enum Upcasters {
    typealias Step = @Sendable (Any) throws -> Any

    struct Malformed: Error {}

    static let all: [String: Step] = [
        // AlbumCreated v1 named the year `year` and created albums without songs.
        "AlbumCreated/1": { json in
            guard var object = json as? [String: Any] else { throw Malformed() }
            if let year = object.removeValue(forKey: "year") { object["releaseYear"] = year }
            if object["songs"] == nil { object["songs"] = [Any]() }
            return object
        }
    ]
}
