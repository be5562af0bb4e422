import CatalogCore

extension Album {
    /// Decides a command against the album's current state (nil: the stream is empty). Returns the events
    /// to append, none for a change that changes nothing, or the rule it breaks.
    public static func decide(_ command: AlbumCommand, on album: Album?) throws(DomainError) -> [AlbumEvent] {
        if case .create(let create) = command {
            guard album == nil else { throw .albumExists }
            return [.created(try validated(create))]
        }
        guard let album else { throw .albumNotFound }
        guard !album.isArchived else { throw .albumArchived }
        switch command {
        case .create:
            preconditionFailure("handled above")
        case .changeDetails(let change):
            return try album.changeDetails(change)
        case .addSong(let add):
            return try album.addSong(add)
        case .changeSong(let change):
            return try album.changeSong(change)
        case .removeSong(let songID):
            guard album.songs.contains(where: { $0.id == songID }) else { throw .songNotFound(songID) }
            return [.songRemoved(SongRemoved(songId: songID))]
        case .reorderTracks(let order):
            return try album.reorder(order)
        case .archive:
            return [.archived(AlbumArchived())]
        }
    }

    private static func validated(_ create: CreateAlbum) throws(DomainError) -> AlbumCreated {
        var errors: [FieldError] = []
        let title = Rules.text(create.title, field: "title", errors: &errors)
        let artist = Rules.text(create.artist, field: "artist", errors: &errors)
        Rules.releaseYear(create.releaseYear, errors: &errors)
        if create.songs.count > Rules.maximumSongs {
            errors.append(FieldError(field: "songs", message: "must hold at most \(Rules.maximumSongs) songs"))
        }
        var songs: [Song] = []
        for (index, song) in create.songs.prefix(Rules.maximumSongs).enumerated() {
            let songTitle = Rules.text(song.title, field: "songs[\(index)].title", errors: &errors)
            Rules.duration(song.durationSeconds, field: "songs[\(index)].durationSeconds", errors: &errors)
            songs.append(Song(id: song.id, title: songTitle, durationSeconds: song.durationSeconds))
        }
        if Set(songs.map(\.id)).count != songs.count {
            errors.append(FieldError(field: "songs", message: "song ids must be unique"))
        }
        guard errors.isEmpty else { throw .invalid(errors) }
        return AlbumCreated(title: title, artist: artist, releaseYear: create.releaseYear, songs: songs)
    }

    private func changeDetails(_ change: ChangeAlbumDetails) throws(DomainError) -> [AlbumEvent] {
        var errors: [FieldError] = []
        if change.title == nil && change.artist == nil && change.releaseYear == .unchanged {
            errors.append(FieldError(field: "", message: "give at least one of title, artist, releaseYear"))
        }
        let newTitle = change.title.map { Rules.text($0, field: "title", errors: &errors) } ?? title
        let newArtist = change.artist.map { Rules.text($0, field: "artist", errors: &errors) } ?? artist
        let newYear = change.releaseYear.applied(to: releaseYear)
        if case .set(let year) = change.releaseYear { Rules.releaseYear(year, errors: &errors) }
        guard errors.isEmpty else { throw .invalid(errors) }
        guard newTitle != title || newArtist != artist || newYear != releaseYear else { return [] }
        return [.detailsChanged(AlbumDetailsChanged(title: newTitle, artist: newArtist, releaseYear: newYear))]
    }

    private func addSong(_ add: AddSong) throws(DomainError) -> [AlbumEvent] {
        var errors: [FieldError] = []
        let songTitle = Rules.text(add.title, field: "title", errors: &errors)
        Rules.duration(add.durationSeconds, field: "durationSeconds", errors: &errors)
        if songs.count >= Rules.maximumSongs {
            errors.append(FieldError(field: "songs", message: "the album already holds \(Rules.maximumSongs) songs"))
        }
        if let trackNumber = add.trackNumber, !(1...songs.count + 1).contains(trackNumber) {
            errors.append(FieldError(field: "trackNumber", message: "must be between 1 and \(songs.count + 1)"))
        }
        if songs.contains(where: { $0.id == add.id }) {
            errors.append(FieldError(field: "id", message: "the album already has a song with this id"))
        }
        guard errors.isEmpty else { throw .invalid(errors) }
        let position = (add.trackNumber ?? songs.count + 1) - 1
        return [.songAdded(SongAdded(songId: add.id, title: songTitle, durationSeconds: add.durationSeconds, position: position))]
    }

    private func changeSong(_ change: ChangeSongDetails) throws(DomainError) -> [AlbumEvent] {
        guard let song = songs.first(where: { $0.id == change.songID }) else { throw .songNotFound(change.songID) }
        var errors: [FieldError] = []
        if change.title == nil && change.durationSeconds == .unchanged {
            errors.append(FieldError(field: "", message: "give at least one of title, durationSeconds"))
        }
        let newTitle = change.title.map { Rules.text($0, field: "title", errors: &errors) } ?? song.title
        if case .set(let seconds) = change.durationSeconds { Rules.duration(seconds, field: "durationSeconds", errors: &errors) }
        let newDuration = change.durationSeconds.applied(to: song.durationSeconds)
        guard errors.isEmpty else { throw .invalid(errors) }
        guard newTitle != song.title || newDuration != song.durationSeconds else { return [] }
        return [.songDetailsChanged(SongDetailsChanged(songId: song.id, title: newTitle, durationSeconds: newDuration))]
    }

    private func reorder(_ order: [SongID]) throws(DomainError) -> [AlbumEvent] {
        guard order.count == songs.count, Set(order) == Set(songs.map(\.id)), Set(order).count == order.count else {
            throw .invalid([FieldError(field: "songIds", message: "must list every song of the album exactly once")])
        }
        guard order != songs.map(\.id) else { return [] }
        return [.trackOrderChanged(TrackOrderChanged(songIds: order))]
    }
}
