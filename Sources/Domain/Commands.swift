import CatalogCore

/// What a write client can ask of an album. Ids of new things are chosen by the caller (the command
/// service), so that deciding stays a pure function.
public enum AlbumCommand: Equatable, Sendable {
    case create(CreateAlbum)
    case changeDetails(ChangeAlbumDetails)
    case addSong(AddSong)
    case changeSong(ChangeSongDetails)
    case removeSong(SongID)
    case reorderTracks([SongID])
    case archive

    /// A stable name for metrics and logs.
    public var name: String {
        switch self {
        case .create: "CreateAlbum"
        case .changeDetails: "ChangeAlbumDetails"
        case .addSong: "AddSong"
        case .changeSong: "ChangeSongDetails"
        case .removeSong: "RemoveSong"
        case .reorderTracks: "ReorderTracks"
        case .archive: "ArchiveAlbum"
        }
    }
}

public struct CreateAlbum: Equatable, Sendable {
    public var title: String
    public var artist: String
    public var releaseYear: Int?
    public var songs: [NewSong]

    public init(title: String, artist: String, releaseYear: Int? = nil, songs: [NewSong] = []) {
        self.title = title
        self.artist = artist
        self.releaseYear = releaseYear
        self.songs = songs
    }
}

public struct NewSong: Equatable, Sendable {
    public var id: SongID
    public var title: String
    public var durationSeconds: Int?

    public init(id: SongID = SongID(), title: String, durationSeconds: Int? = nil) {
        self.id = id
        self.title = title
        self.durationSeconds = durationSeconds
    }
}

/// A field of a partial update: left alone, set to a value, or cleared (JSON `null`).
public enum FieldUpdate<Value: Equatable & Sendable>: Equatable, Sendable {
    case unchanged
    case set(Value)
    case clear

    func applied(to current: Value?) -> Value? {
        switch self {
        case .unchanged: current
        case .set(let value): value
        case .clear: nil
        }
    }
}

public struct ChangeAlbumDetails: Equatable, Sendable {
    public var title: String?
    public var artist: String?
    public var releaseYear: FieldUpdate<Int>

    public init(title: String? = nil, artist: String? = nil, releaseYear: FieldUpdate<Int> = .unchanged) {
        self.title = title
        self.artist = artist
        self.releaseYear = releaseYear
    }
}

public struct AddSong: Equatable, Sendable {
    public var id: SongID
    public var title: String
    public var durationSeconds: Int?
    /// 1-based position to insert at; nil appends.
    public var trackNumber: Int?

    public init(id: SongID = SongID(), title: String, durationSeconds: Int? = nil, trackNumber: Int? = nil) {
        self.id = id
        self.title = title
        self.durationSeconds = durationSeconds
        self.trackNumber = trackNumber
    }
}

public struct ChangeSongDetails: Equatable, Sendable {
    public var songID: SongID
    public var title: String?
    public var durationSeconds: FieldUpdate<Int>

    public init(songID: SongID, title: String? = nil, durationSeconds: FieldUpdate<Int> = .unchanged) {
        self.songID = songID
        self.title = title
        self.durationSeconds = durationSeconds
    }
}
