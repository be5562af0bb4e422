import CatalogCore
import Domain
import EventLog
import Foundation
import Postgres
import ReadModel

/// The albums projection: folds album events into the read model's album table
/// (`ReadModelSchema.albumViews`), one row per album with its view's JSON made once per write.
public struct AlbumsProjection: Projection {
    public let name = "albums"

    public init() {}

    public let tables = [ReadModelSchema.albumViews]

    public func apply(_ events: ArraySlice<RecordedEvent>, to tables: TableNames, in session: PostgresSession) async throws -> ApplyOutcome {
        let table = tables("album_views")
        var views = try await Self.load(Array(Set(events.map(\.streamID))), from: table, in: session)
        var changed = Set<UUID>()
        var outcome = ApplyOutcome.applied
        for index in events.indices {
            let recorded = events[index]
            do {
                let next = try AlbumView.fold(recorded, onto: views[recorded.streamID])
                views[recorded.streamID] = next
                changed.insert(recorded.streamID)
            } catch {
                outcome = .failed(index: index, reason: error.reason)
                break
            }
        }
        if !changed.isEmpty {
            try await Self.store(changed.map { views[$0]! }, into: table, in: session)
        }
        return outcome
    }

    static func load(_ ids: [UUID], from table: String, in session: PostgresSession) async throws -> [UUID: AlbumView] {
        let rows = try await session.query(
            """
            SELECT id, title, artist, release_year, songs::text, version, archived,
                   (extract(epoch FROM created_at) * 1000000)::int8, (extract(epoch FROM updated_at) * 1000000)::int8
            FROM \(unsafeSQL: table) WHERE id = ANY(\(ids))
            """
        )
        var views: [UUID: AlbumView] = [:]
        for row in rows {
            let id = try row.decode(UUID.self, at: 0)
            let songs = try JSONDecoder().decode([AlbumView.SongRow].self, from: Data(try row.decode(String.self, at: 4).utf8))
            let album = Album(
                id: AlbumID(id),
                title: try row.decode(String.self, at: 1),
                artist: try row.decode(String.self, at: 2),
                releaseYear: try row.decode(Int?.self, at: 3),
                songs: songs.map { Song(id: $0.id, title: $0.title, durationSeconds: $0.durationSeconds) },
                isArchived: try row.decode(Bool.self, at: 6),
                version: try row.decode(Int.self, at: 5)
            )
            views[id] = AlbumView(album: album, createdAt: try row.decode(Int64.self, at: 7), updatedAt: try row.decode(Int64.self, at: 8))
        }
        return views
    }

    static func store(_ views: [AlbumView], into table: String, in session: PostgresSession) async throws {
        try await session.query(
            """
            INSERT INTO \(unsafeSQL: table) AS t
                (id, title, artist, release_year, songs, song_count, total_duration_seconds, version, archived, created_at, updated_at,
                 document)
            SELECT id, title, artist, release_year, songs, song_count, total_duration_seconds, version, archived, created_at, updated_at,
                   json_build_object('id', id, 'title', title, 'artist', artist, 'releaseYear', release_year, 'songs', songs,
                                     'songCount', song_count, 'totalDurationSeconds', total_duration_seconds, 'version', version,
                                     'createdAt', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                     'updatedAt', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
            FROM (
                SELECT r.*, timestamptz 'epoch' + created_us * interval '1 microsecond' AS created_at,
                       timestamptz 'epoch' + updated_us * interval '1 microsecond' AS updated_at
                FROM jsonb_to_recordset(\(PostgresJSON(views.map(AlbumView.Row.init)))) AS r(
                    id uuid, title text, artist text, release_year integer, songs jsonb, song_count integer,
                    total_duration_seconds integer, version integer, archived boolean, created_us bigint, updated_us bigint)
            ) r
            ON CONFLICT (id) DO UPDATE SET
                title = excluded.title, artist = excluded.artist, release_year = excluded.release_year, songs = excluded.songs,
                song_count = excluded.song_count, total_duration_seconds = excluded.total_duration_seconds,
                version = excluded.version, archived = excluded.archived, updated_at = excluded.updated_at,
                document = excluded.document
            """
        )
    }
}

/// Why an event cannot be applied to the album read model.
struct ProjectionError: Error {
    var reason: String
}

extension Error {
    fileprivate var reason: String { (self as? ProjectionError)?.reason ?? "\(self)" }
}

/// An album as the read model holds it: the aggregate's state plus when it was created and last changed
/// (microseconds since 1970, taken from the events' recorded times).
struct AlbumView: Equatable {
    var album: Album
    var createdAt: Int64
    var updatedAt: Int64

    /// The view after `recorded`, or an error when the event does not follow the view: an unreadable
    /// payload, an album created twice, an event for an album that was never created, or a version gap.
    static func fold(_ recorded: RecordedEvent, onto view: AlbumView?) throws(ProjectionError) -> AlbumView {
        let event: AlbumEvent
        do {
            event = try AlbumEvent(decoding: recorded.event)
        } catch {
            throw ProjectionError(reason: error.description)
        }
        let at = Int64((recorded.recordedAt.timeIntervalSince1970 * 1_000_000).rounded())
        guard var view else {
            guard case .created(let created) = event, recorded.version == 1 else {
                throw ProjectionError(reason: "\(recorded.event.type) version \(recorded.version) for an album that was never created")
            }
            guard let album = Album.fold(id: AlbumID(recorded.streamID), events: [.created(created)]) else {
                throw ProjectionError(reason: "cannot create the album")
            }
            return AlbumView(album: album, createdAt: at, updatedAt: at)
        }
        guard recorded.version == view.album.version + 1 else {
            throw ProjectionError(reason: "version \(recorded.version) does not follow the view's version \(view.album.version)")
        }
        if case .created = event {
            throw ProjectionError(reason: "AlbumCreated for an album that exists")
        }
        view.album.apply(event)
        view.updatedAt = at
        return view
    }

    /// A song in the `songs` JSON array, as the album view shows it.
    struct SongRow: Codable {
        var id: SongID
        var title: String
        var durationSeconds: Int?
        var trackNumber: Int

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(title, forKey: .title)
            // Explicit null: the album view always has the key.
            try container.encode(durationSeconds, forKey: .durationSeconds)
            try container.encode(trackNumber, forKey: .trackNumber)
        }
    }

    /// The row, as `jsonb_to_recordset` reads it.
    struct Row: Codable, Sendable {
        var id: UUID
        var title: String
        var artist: String
        var release_year: Int?
        var songs: [SongRow]
        var song_count: Int
        var total_duration_seconds: Int
        var version: Int
        var archived: Bool
        var created_us: Int64
        var updated_us: Int64

        init(_ view: AlbumView) {
            let album = view.album
            id = album.id.uuid
            title = album.title
            artist = album.artist
            release_year = album.releaseYear
            songs = album.songs.enumerated().map { SongRow(id: $1.id, title: $1.title, durationSeconds: $1.durationSeconds, trackNumber: $0 + 1) }
            song_count = album.songs.count
            total_duration_seconds = album.songs.reduce(0) { $0 + ($1.durationSeconds ?? 0) }
            version = album.version
            archived = album.isArchived
            created_us = view.createdAt
            updated_us = view.updatedAt
        }
    }
}
