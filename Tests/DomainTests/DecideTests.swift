import CatalogCore
import Domain
import Foundation
import Testing

/// Applies the events a command produces, as the command service does.
private func run(_ command: AlbumCommand, on album: Album?) throws(DomainError) -> (events: [AlbumEvent], album: Album?) {
    let events = try Album.decide(command, on: album)
    guard let album else { return (events, Album.fold(id: AlbumID(), events: events)) }
    var next = album
    for event in events { next.apply(event) }
    return (events, next)
}

private func created(songs: Int = 2) throws -> Album {
    let create = CreateAlbum(
        title: "Kind of Blue",
        artist: "Miles Davis",
        releaseYear: 1959,
        songs: (0..<songs).map { NewSong(title: "Song \($0 + 1)", durationSeconds: 60 * ($0 + 1)) }
    )
    return try #require(try run(.create(create), on: nil).album)
}

private func fieldErrors(_ body: () throws -> Void) -> [String] {
    do {
        try body()
        return []
    } catch DomainError.invalid(let errors) {
        return errors.map(\.field)
    } catch {
        return ["unexpected \(error)"]
    }
}

@Suite struct CreateAlbumTests {
    @Test func createsAnAlbumWithTrimmedTextAndItsSongsInOrder() throws {
        let song = NewSong(title: "  So What ", durationSeconds: 562)
        let (events, album) = try run(.create(CreateAlbum(title: " Kind of Blue\t", artist: "Miles Davis", songs: [song])), on: nil)
        #expect(events.count == 1)
        let made = try #require(album)
        #expect(made.title == "Kind of Blue")
        #expect(made.songs == [Song(id: song.id, title: "So What", durationSeconds: 562)])
        #expect(made.version == 1)
        #expect(!made.isArchived)
    }

    @Test(arguments: [
        ("", "title"), ("   ", "title"), (String(repeating: "x", count: 201), "title"), ("bell\u{7}", "title"),
        ("line\nbreak", "title"), ("del\u{7F}", "title"), ("c1\u{85}control", "title"),
        // JSON Schema's maxLength counts code points: 150 letters with 60 combining marks are 150 of Swift's
        // characters but 210 code points (schemathesis found this one); spaces around 200 letters count too.
        (String(repeating: "e\u{301}", count: 60) + String(repeating: "x", count: 90), "title"),
        (" " + String(repeating: "x", count: 200), "title"),
    ])
    func refusesInvalidTitles(_ title: String, _ field: String) {
        #expect(fieldErrors { _ = try Album.decide(.create(CreateAlbum(title: title, artist: "A")), on: nil) } == [field])
    }

    @Test func acceptsTheLimitsOfEveryRule() throws {
        let longest = String(repeating: "é", count: 200)
        let songs = (0..<Rules.maximumSongs).map { NewSong(title: "\($0)", durationSeconds: $0 % 2 == 0 ? 1 : 86_400) }
        for year in [1860, 2100] {
            let album = try run(.create(CreateAlbum(title: longest, artist: "🎺 \u{1F3B7}", releaseYear: year, songs: songs)), on: nil).album
            #expect(album?.songs.count == 500)
        }
        #expect(try run(.create(CreateAlbum(title: "\u{1F469}\u{200D}\u{1F467}", artist: "x")), on: nil).album?.title.count == 1)
    }

    @Test func reportsEveryBrokenRuleWithItsField() {
        let create = CreateAlbum(
            title: "",
            artist: String(repeating: "a", count: 201),
            releaseYear: 1859,
            songs: [NewSong(title: "ok", durationSeconds: 0), NewSong(title: "\u{0}", durationSeconds: 86_401)]
        )
        #expect(
            fieldErrors { _ = try Album.decide(.create(create), on: nil) }
                == ["title", "artist", "releaseYear", "songs[0].durationSeconds", "songs[1].title", "songs[1].durationSeconds"]
        )
        #expect(fieldErrors { _ = try Album.decide(.create(CreateAlbum(title: "t", artist: "a", releaseYear: 2101)), on: nil) } == ["releaseYear"])
    }

    @Test func refusesMoreThanFiveHundredSongsAndDuplicateSongIds() {
        let many = (0...Rules.maximumSongs).map { NewSong(title: "\($0)") }
        #expect(fieldErrors { _ = try Album.decide(.create(CreateAlbum(title: "t", artist: "a", songs: many)), on: nil) } == ["songs"])
        let id = SongID()
        let twins = [NewSong(id: id, title: "a"), NewSong(id: id, title: "b")]
        #expect(fieldErrors { _ = try Album.decide(.create(CreateAlbum(title: "t", artist: "a", songs: twins)), on: nil) } == ["songs"])
    }

    @Test func anAlbumCannotBeCreatedTwice() throws {
        let album = try created()
        #expect(throws: DomainError.albumExists) { try Album.decide(.create(CreateAlbum(title: "t", artist: "a")), on: album) }
    }
}

@Suite struct ChangeCommandsTests {
    @Test func changesDetailsAndClearsTheYear() throws {
        let album = try created()
        let (events, changed) = try run(.changeDetails(ChangeAlbumDetails(title: "Kind of Blue (Legacy)", releaseYear: .clear)), on: album)
        #expect(events == [.detailsChanged(AlbumDetailsChanged(title: "Kind of Blue (Legacy)", artist: "Miles Davis", releaseYear: nil))])
        #expect(changed?.version == 2)
        #expect(changed?.releaseYear == nil)
    }

    @Test func aChangeToTheSameValuesAppendsNothing() throws {
        let album = try created()
        #expect(try Album.decide(.changeDetails(ChangeAlbumDetails(title: " Kind of Blue ", releaseYear: .set(1959))), on: album) == [])
        let song = album.songs[0]
        #expect(try Album.decide(.changeSong(ChangeSongDetails(songID: song.id, title: song.title)), on: album) == [])
        #expect(try Album.decide(.reorderTracks(album.songs.map(\.id)), on: album) == [])
    }

    @Test func aChangeMustNameAtLeastOneFieldAndKeepTheRules() throws {
        let album = try created()
        #expect(fieldErrors { _ = try Album.decide(.changeDetails(ChangeAlbumDetails()), on: album) } == [""])
        #expect(fieldErrors { _ = try Album.decide(.changeDetails(ChangeAlbumDetails(artist: "\u{1B}[31m")), on: album) } == ["artist"])
        #expect(fieldErrors { _ = try Album.decide(.changeDetails(ChangeAlbumDetails(releaseYear: .set(3000))), on: album) } == ["releaseYear"])
        let songID = album.songs[0].id
        #expect(fieldErrors { _ = try Album.decide(.changeSong(ChangeSongDetails(songID: songID)), on: album) } == [""])
        #expect(
            fieldErrors { _ = try Album.decide(.changeSong(ChangeSongDetails(songID: songID, durationSeconds: .set(-5))), on: album) }
                == ["durationSeconds"]
        )
    }

    @Test func addsASongAtATrackNumberOrLast() throws {
        let album = try created(songs: 2)
        let first = AddSong(title: "Opening", durationSeconds: 30, trackNumber: 1)
        let (_, withFirst) = try run(.addSong(first), on: album)
        #expect(withFirst?.songs.first?.id == first.id)
        let last = AddSong(title: "Closing")
        let (events, withLast) = try run(.addSong(last), on: withFirst)
        #expect(withLast?.songs.last?.id == last.id)
        #expect(events == [.songAdded(SongAdded(songId: last.id, title: "Closing", durationSeconds: nil, position: 3))])
        #expect(withLast?.version == 3)
    }

    @Test func refusesATrackNumberOutsideTheAlbumAndTheFiveHundredAndFirstSong() throws {
        let album = try created(songs: 2)
        for trackNumber in [0, 4, -1] {
            #expect(fieldErrors { _ = try Album.decide(.addSong(AddSong(title: "x", trackNumber: trackNumber)), on: album) } == ["trackNumber"])
        }
        let full = try created(songs: Rules.maximumSongs)
        #expect(fieldErrors { _ = try Album.decide(.addSong(AddSong(title: "x")), on: full) } == ["songs"])
    }

    @Test func changesAndRemovesSongs() throws {
        let album = try created(songs: 3)
        let target = album.songs[1]
        let (_, changed) = try run(.changeSong(ChangeSongDetails(songID: target.id, title: "Renamed", durationSeconds: .clear)), on: album)
        #expect(changed?.songs[1] == Song(id: target.id, title: "Renamed", durationSeconds: nil))
        let (_, removed) = try run(.removeSong(target.id), on: changed)
        #expect(removed?.songs.map(\.id) == [album.songs[0].id, album.songs[2].id])
    }

    @Test func unknownSongsAreReported() throws {
        let album = try created()
        let stranger = SongID()
        #expect(throws: DomainError.songNotFound(stranger)) { try Album.decide(.removeSong(stranger), on: album) }
        #expect(throws: DomainError.songNotFound(stranger)) {
            try Album.decide(.changeSong(ChangeSongDetails(songID: stranger, title: "x")), on: album)
        }
    }

    @Test func reordersOnlyByAPermutationOfTheAlbumsSongs() throws {
        let album = try created(songs: 3)
        let ids = album.songs.map(\.id)
        let (_, reordered) = try run(.reorderTracks(ids.reversed()), on: album)
        #expect(reordered?.songs.map(\.id) == ids.reversed())
        for order in [Array(ids.prefix(2)), ids + [ids[0]], [ids[0], ids[0], ids[1]], ids.dropLast() + [SongID()]] {
            #expect(fieldErrors { _ = try Album.decide(.reorderTracks(order), on: album) } == ["songIds"])
        }
    }

    @Test func anArchivedAlbumTakesNoMoreCommands() throws {
        let album = try created()
        let (events, archived) = try run(.archive, on: album)
        #expect(events == [.archived(AlbumArchived())])
        let gone = try #require(archived)
        #expect(gone.isArchived)
        let commands: [AlbumCommand] = [
            .changeDetails(ChangeAlbumDetails(title: "x")), .addSong(AddSong(title: "x")), .removeSong(album.songs[0].id),
            .changeSong(ChangeSongDetails(songID: album.songs[0].id, title: "x")), .reorderTracks(album.songs.map(\.id)), .archive,
        ]
        for command in commands {
            #expect(throws: DomainError.albumArchived) { try Album.decide(command, on: gone) }
        }
    }

    @Test func commandsOnAMissingAlbumAreNotFound() {
        #expect(throws: DomainError.albumNotFound) { try Album.decide(.archive, on: nil) }
        #expect(throws: DomainError.albumNotFound) { try Album.decide(.changeDetails(ChangeAlbumDetails(title: "x")), on: nil) }
    }
}
