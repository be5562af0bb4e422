import CatalogCore
import Domain
import Foundation
import Testing

@Suite struct EventCodingTests {
    static let songID = SongID()
    static let newSongID = SongID()
    static let events: [AlbumEvent] = [
        .created(AlbumCreated(title: "T", artist: "A", releaseYear: 1959, songs: [Song(id: songID, title: "S", durationSeconds: 5)])),
        .detailsChanged(AlbumDetailsChanged(title: "T2", artist: "A", releaseYear: nil)),
        .songAdded(SongAdded(songId: newSongID, title: "New", durationSeconds: nil, position: 0)),
        .songDetailsChanged(SongDetailsChanged(songId: songID, title: "S2", durationSeconds: 9)),
        .trackOrderChanged(TrackOrderChanged(songIds: [songID, newSongID])),
        .songRemoved(SongRemoved(songId: songID)),
        .archived(AlbumArchived()),
    ]

    @Test(arguments: events)
    func everyEventRoundTripsAtItsCurrentSchemaVersion(_ event: AlbumEvent) throws {
        let encoded = event.encoded()
        #expect(encoded.schemaVersion == AlbumEvent.schemaVersions[encoded.type])
        #expect(try AlbumEvent(decoding: encoded) == event)
    }

    @Test func anAlbumCreatedOfSchemaVersionOneIsUpcast() throws {
        let stored = EncodedEvent(
            type: "AlbumCreated",
            schemaVersion: 1,
            data: Data(#"{"title":"Blue Train","artist":"John Coltrane","year":1957}"#.utf8)
        )
        let event = try AlbumEvent(decoding: stored)
        #expect(event == .created(AlbumCreated(title: "Blue Train", artist: "John Coltrane", releaseYear: 1957, songs: [])))
    }

    @Test func unknownTypesVersionsAndPayloadsAreTypedErrors() {
        let cases = [
            EncodedEvent(type: "AlbumSold", schemaVersion: 1, data: Data("{}".utf8)),
            EncodedEvent(type: "AlbumCreated", schemaVersion: 3, data: Data("{}".utf8)),
            EncodedEvent(type: "SongRemoved", schemaVersion: 1, data: Data(#"{"songId":"not-a-uuid"}"#.utf8)),
            EncodedEvent(type: "SongRemoved", schemaVersion: 1, data: Data("not json".utf8)),
            EncodedEvent(type: "AlbumCreated", schemaVersion: 1, data: Data("[1]".utf8)),
        ]
        for stored in cases {
            #expect(throws: EventDecodingError.self) { try AlbumEvent(decoding: stored) }
        }
    }

    @Test func foldingTheEventsRebuildsTheAlbum() throws {
        let id = AlbumID()
        let album = try #require(Album.fold(id: id, events: Self.events))
        #expect(album.version == Self.events.count)
        #expect(album.isArchived)
        #expect(album.title == "T2")
        #expect(album.songs.map(\.title) == ["New"])
        #expect(Album.fold(id: id, events: []) == nil)
    }
}
