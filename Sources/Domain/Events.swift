import CatalogCore

/// What happened to an album. Events carry the new values they set, so folding them needs no history.
public enum AlbumEvent: Equatable, Sendable {
    case created(AlbumCreated)
    case detailsChanged(AlbumDetailsChanged)
    case songAdded(SongAdded)
    case songDetailsChanged(SongDetailsChanged)
    case songRemoved(SongRemoved)
    case trackOrderChanged(TrackOrderChanged)
    case archived(AlbumArchived)
}

public struct AlbumCreated: Codable, Equatable, Sendable {
    public var title: String
    public var artist: String
    public var releaseYear: Int?
    public var songs: [Song]

    public init(title: String, artist: String, releaseYear: Int?, songs: [Song]) {
        self.title = title
        self.artist = artist
        self.releaseYear = releaseYear
        self.songs = songs
    }
}

public struct AlbumDetailsChanged: Codable, Equatable, Sendable {
    public var title: String
    public var artist: String
    public var releaseYear: Int?

    public init(title: String, artist: String, releaseYear: Int?) {
        self.title = title
        self.artist = artist
        self.releaseYear = releaseYear
    }
}

public struct SongAdded: Codable, Equatable, Sendable {
    public var songId: SongID
    public var title: String
    public var durationSeconds: Int?
    /// 0-based index the song was inserted at.
    public var position: Int

    public init(songId: SongID, title: String, durationSeconds: Int?, position: Int) {
        self.songId = songId
        self.title = title
        self.durationSeconds = durationSeconds
        self.position = position
    }
}

public struct SongDetailsChanged: Codable, Equatable, Sendable {
    public var songId: SongID
    public var title: String
    public var durationSeconds: Int?

    public init(songId: SongID, title: String, durationSeconds: Int?) {
        self.songId = songId
        self.title = title
        self.durationSeconds = durationSeconds
    }
}

public struct SongRemoved: Codable, Equatable, Sendable {
    public var songId: SongID

    public init(songId: SongID) {
        self.songId = songId
    }
}

public struct TrackOrderChanged: Codable, Equatable, Sendable {
    public var songIds: [SongID]

    public init(songIds: [SongID]) {
        self.songIds = songIds
    }
}

public struct AlbumArchived: Codable, Equatable, Sendable {
    public init() {}
}
