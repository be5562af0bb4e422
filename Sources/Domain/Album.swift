import CatalogCore

/// The album aggregate: the state that deciding a command needs, folded from the album's events.
public struct Album: Equatable, Sendable {
    public let id: AlbumID
    public private(set) var title: String
    public private(set) var artist: String
    public private(set) var releaseYear: Int?
    /// In track order.
    public private(set) var songs: [Song]
    public private(set) var isArchived: Bool
    /// The number of events folded in: the stream's version.
    public private(set) var version: Int

    /// Folds a stream; nil when it is empty. The first event must be `created`.
    public static func fold(id: AlbumID, events: some Sequence<AlbumEvent>) -> Album? {
        var album: Album?
        for event in events {
            if var existing = album {
                existing.apply(event)
                album = existing
            } else if case .created(let created) = event {
                album = Album(id: id, created: created)
            }
        }
        return album
    }

    init(id: AlbumID, created: AlbumCreated) {
        self.id = id
        self.title = created.title
        self.artist = created.artist
        self.releaseYear = created.releaseYear
        self.songs = created.songs
        self.isArchived = false
        self.version = 1
    }

    /// Restores an album from a snapshot of its state, e.g. a read model row, to fold further events onto.
    public init(id: AlbumID, title: String, artist: String, releaseYear: Int?, songs: [Song], isArchived: Bool, version: Int) {
        self.id = id
        self.title = title
        self.artist = artist
        self.releaseYear = releaseYear
        self.songs = songs
        self.isArchived = isArchived
        self.version = version
    }

    public mutating func apply(_ event: AlbumEvent) {
        version += 1
        switch event {
        case .created:
            break
        case .detailsChanged(let changed):
            title = changed.title
            artist = changed.artist
            releaseYear = changed.releaseYear
        case .songAdded(let added):
            let song = Song(id: added.songId, title: added.title, durationSeconds: added.durationSeconds)
            songs.insert(song, at: min(max(0, added.position), songs.count))
        case .songDetailsChanged(let changed):
            if let index = songs.firstIndex(where: { $0.id == changed.songId }) {
                songs[index].title = changed.title
                songs[index].durationSeconds = changed.durationSeconds
            }
        case .songRemoved(let removed):
            songs.removeAll { $0.id == removed.songId }
        case .trackOrderChanged(let changed):
            let byID = Dictionary(songs.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            songs = changed.songIds.compactMap { byID[$0] }
        case .archived:
            isArchived = true
        }
    }
}

public struct Song: Codable, Equatable, Sendable {
    public var id: SongID
    public var title: String
    public var durationSeconds: Int?

    public init(id: SongID, title: String, durationSeconds: Int?) {
        self.id = id
        self.title = title
        self.durationSeconds = durationSeconds
    }
}
