import CatalogCore
import ClusterHarness
import Domain
import EventLog
import Foundation
import Logging
import Postgres
import Projections
import Testing

/// A catalog of its own for one test: a scratch database with the schema, the writer's event store and
/// the projector's client.
final class TestCatalog: Sendable {
    let database: ScratchDatabase
    let writer: PostgresClient
    let projector: PostgresClient
    let store: EventStore

    init(_ purpose: String) async throws {
        database = try await ScratchDatabase(purpose)
        let owner = try Self.client(database.conninfo("CATALOG_MIGRATOR_PRIMARY"), poolSize: 1)
        try await CatalogSchema.migrate(owner)
        await owner.shutdown()
        writer = try Self.client(database.conninfo("CATALOG_PRIMARY"), poolSize: 10)
        projector = try Self.client(database.conninfo("CATALOG_PROJECTOR_PRIMARY"), poolSize: 4)
        store = EventStore(client: writer)
    }

    static func client(_ conninfo: String, poolSize: Int) throws -> PostgresClient {
        var configuration = PostgresClient.Configuration(connectionString: conninfo)
        configuration.poolSize = poolSize
        configuration.checkoutTimeout = .seconds(30)
        configuration.queryTimeout = .seconds(60)
        return try PostgresClient(configuration: configuration)
    }

    func reader(_ conninfo: String) throws -> PostgresClient {
        try Self.client(conninfo, poolSize: 4)
    }

    func close() async {
        await writer.shutdown()
        await projector.shutdown()
        await database.drop()
    }

    func runner(_ configure: (inout ProjectionRunner.Configuration) -> Void = { _ in }) -> ProjectionRunner {
        var configuration = ProjectionRunner.Configuration()
        configuration.pollInterval = .milliseconds(5)
        configure(&configuration)
        return ProjectionRunner(projection: AlbumsProjection(), client: projector, configuration: configuration, logger: Logger(label: "test"))
    }

    /// Runs a projector in this process while `body` runs.
    func withRunner<Result: Sendable>(
        _ runner: ProjectionRunner? = nil,
        _ body: @Sendable () async throws -> Result
    ) async throws -> Result {
        let runner = runner ?? self.runner()
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await runner.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    func checkpoint() async throws -> ConsistencyToken {
        try await projector.withConnection { session in
            let rows = try await session.query(
                "SELECT txid::text, position FROM read_model.projection_checkpoints WHERE projection = 'albums'"
            )
            guard let row = rows.first else { return .origin }
            return try ConsistencyToken(row, transaction: 0, position: 1)
        }
    }

    /// The token of the last event committed. Not the store's commit-safe head: a transaction running
    /// in another database of the cluster (other tests) holds that back, and "caught up" must mean
    /// every event these tests appended.
    func head() async throws -> ConsistencyToken {
        let rows = try await projector.query("SELECT txid::text, position FROM events ORDER BY events.txid DESC, events.position DESC LIMIT 1")
        guard let row = rows.first else { return .origin }
        return try ConsistencyToken(row, transaction: 0, position: 1)
    }

    /// How many times a runner has looked at the event log in this database: its idle probe and its
    /// batches' reads both ask for the commit-safe horizon, and pg_stat_statements counts them.
    func logReads() async throws -> Int {
        let calls = try await database.psql(
            """
            SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
            WHERE r.rolname = 'catalog_projector' AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND s.query LIKE '%FROM events%' AND s.query LIKE '%pg_snapshot_xmin(pg_current_snapshot())%'
            """
        )
        return try #require(Int(calls), "pg_stat_statements answered \(calls)")
    }

    /// Waits until a runner has looked at the log `count` more times than now: the positive sign that it
    /// had its chance to do something before a test checks that it did not.
    func waitForLogReads(_ count: Int) async throws {
        let target = try await logReads() + count
        try await waitFor("the runner reads the log \(count) more times") { try await logReads() >= target }
    }

    /// Waits until the checkpoint reaches the last committed event.
    func waitUntilCaughtUp(within limit: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let head = try await head()
            if try await checkpoint() >= head { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the projection did not catch up within \(limit): checkpoint \(try await checkpoint()), head \(try await head())")
    }

    /// Decides `command` (made from the album's current state) and appends its events, re-reading and
    /// retrying on a version conflict as the command service does. Returns false when the Domain refuses it.
    @discardableResult
    func execute(on id: AlbumID, _ command: @Sendable (Album?) -> AlbumCommand?) async throws -> Bool {
        for _ in 0..<100 {
            let events = try await store.readStream(id.uuid).map { try AlbumEvent(decoding: $0.event) }
            let album = Album.fold(id: id, events: events)
            guard let next = command(album) else { return false }
            let decided: [AlbumEvent]
            do {
                decided = try Album.decide(next, on: album)
            } catch {
                return false
            }
            if decided.isEmpty { return true }
            do {
                _ = try await store.append(to: id.uuid, expectedVersion: album?.version ?? 0, events: decided.map { $0.encoded() }, metadata: .test)
                return true
            } catch AppendError.versionConflict {
                continue
            }
        }
        Issue.record("100 conflicts in a row on \(id)")
        return false
    }

    func create(_ id: AlbumID, title: String = "Album", songs: Int = 2) async throws {
        try await execute(on: id) { _ in
            .create(
                CreateAlbum(
                    title: title,
                    artist: "Artist",
                    releaseYear: 1990,
                    songs: (0..<songs).map { NewSong(title: "Song \($0)", durationSeconds: 60 + $0) }
                )
            )
        }
    }

    /// The album read rows, as the reader role on `client` sees them.
    static func views(_ client: PostgresClient) async throws -> [UUID: ViewRow] {
        let rows = try await client.query(
            """
            SELECT id, title, artist, release_year, songs::text, song_count, total_duration_seconds, version, archived,
                   created_at, updated_at
            FROM read_model.album_views
            """
        )
        var views: [UUID: ViewRow] = [:]
        for row in rows {
            let view = ViewRow(
                title: try row.decode(String.self, at: 1),
                artist: try row.decode(String.self, at: 2),
                releaseYear: try row.decode(Int?.self, at: 3),
                songs: try JSONDecoder().decode([ViewRow.SongRow].self, from: Data(try row.decode(String.self, at: 4).utf8)),
                songCount: try row.decode(Int.self, at: 5),
                totalDurationSeconds: try row.decode(Int.self, at: 6),
                version: try row.decode(Int.self, at: 7),
                archived: try row.decode(Bool.self, at: 8),
                createdAt: try row.decode(Date.self, at: 9),
                updatedAt: try row.decode(Date.self, at: 10)
            )
            views[try row.decode(UUID.self, at: 0)] = view
        }
        return views
    }

    /// What the read row of an album must be: the Domain's fold of its whole stream.
    func expectedView(of id: UUID) async throws -> ViewRow? {
        let recorded = try await EventStore(client: projector).readStream(id)
        guard let first = recorded.first, let last = recorded.last,
            let album = Album.fold(id: AlbumID(id), events: try recorded.map { try AlbumEvent(decoding: $0.event) })
        else { return nil }
        return ViewRow(
            title: album.title,
            artist: album.artist,
            releaseYear: album.releaseYear,
            songs: album.songs.enumerated().map {
                ViewRow.SongRow(id: $1.id.description, title: $1.title, durationSeconds: $1.durationSeconds, trackNumber: $0 + 1)
            },
            songCount: album.songs.count,
            totalDurationSeconds: album.songs.reduce(0) { $0 + ($1.durationSeconds ?? 0) },
            version: album.version,
            archived: album.isArchived,
            createdAt: first.recordedAt,
            updatedAt: last.recordedAt
        )
    }

    /// Every album's read row equals the fold of its events, and there is no row without events.
    func expectReadModelEqualsFold(ids: [UUID]) async throws {
        let views = try await Self.views(projector)
        #expect(views.count == ids.count)
        for id in ids {
            let expected = try await expectedView(of: id)
            #expect(views[id] == expected, "album \(id)")
        }
        // Each row's document (the album view's JSON) says what its columns say, key by key. IS DISTINCT
        // FROM, not <>: a key missing from the document is NULL, and NULL <> x is not true. The document
        // has exactly the keys of the API's Album, so a key missing, extra or misspelt is a mismatch too;
        // that includes "archived", which it must not carry (query-api answers 410 from the archived
        // column, itself compared with the fold above, like every other column).
        let mismatched = try await projector.query(
            """
            SELECT count(*) FROM read_model.album_views v, LATERAL (SELECT v.document::jsonb AS d) doc
            WHERE jsonb_typeof(d) IS DISTINCT FROM 'object'
               OR ARRAY(SELECT k FROM jsonb_object_keys(d) k ORDER BY k COLLATE "C")
                  IS DISTINCT FROM ARRAY['artist', 'createdAt', 'id', 'releaseYear', 'songCount', 'songs', 'title',
                                         'totalDurationSeconds', 'updatedAt', 'version']
               OR d->>'id' IS DISTINCT FROM v.id::text OR d->>'title' IS DISTINCT FROM v.title
               OR d->>'artist' IS DISTINCT FROM v.artist
               OR d->'releaseYear' IS DISTINCT FROM coalesce(to_jsonb(v.release_year), 'null'::jsonb)
               OR d->'songs' IS DISTINCT FROM v.songs
               OR d->'songCount' IS DISTINCT FROM to_jsonb(v.song_count)
               OR d->'totalDurationSeconds' IS DISTINCT FROM to_jsonb(v.total_duration_seconds)
               OR d->'version' IS DISTINCT FROM to_jsonb(v.version)
               OR (d->>'createdAt')::timestamptz IS DISTINCT FROM v.created_at
               OR (d->>'updatedAt')::timestamptz IS DISTINCT FROM v.updated_at
            """
        )
        let count = try #require(try mismatched.first?.decode(Int.self, at: 0))
        #expect(count == 0, "documents that differ from their rows")
    }

    func runProjections(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let path = try Cluster.executable("projections")
        let environment = try database.environment().merging(ProcessInfo.processInfo.environment) { mine, _ in mine }
            .map { "\($0.key)=\($0.value)" }
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try ChildProcess.run(path, arguments: arguments, environment: environment) })
            }
        }
    }

    func startProjector(_ arguments: [String] = [], log: String) throws -> BackgroundProcess {
        try BackgroundProcess(
            try Cluster.executable("projections"),
            arguments: ["run"] + arguments,
            environment: try database.environment(),
            logPath: Cluster.repositoryRoot.appendingPathComponent(".build/\(database.name)-\(log).log").path
        )
    }
}

struct ViewRow: Equatable, Sendable {
    struct SongRow: Codable, Equatable, Sendable {
        var id: String
        var title: String
        var durationSeconds: Int?
        var trackNumber: Int
    }

    var title: String
    var artist: String
    var releaseYear: Int?
    var songs: [SongRow]
    var songCount: Int
    var totalDurationSeconds: Int
    var version: Int
    var archived: Bool
    var createdAt: Date
    var updatedAt: Date

    static func == (lhs: ViewRow, rhs: ViewRow) -> Bool {
        lhs.title == rhs.title && lhs.artist == rhs.artist && lhs.releaseYear == rhs.releaseYear && lhs.songs == rhs.songs
            && lhs.songCount == rhs.songCount && lhs.totalDurationSeconds == rhs.totalDurationSeconds && lhs.version == rhs.version
            && lhs.archived == rhs.archived && abs(lhs.createdAt.timeIntervalSince(rhs.createdAt)) < 0.000_002
            && abs(lhs.updatedAt.timeIntervalSince(rhs.updatedAt)) < 0.000_002
    }
}

/// A mixed command for an album in its current state, chosen at random.
func randomCommand(_ album: Album?) -> AlbumCommand? {
    guard let album, !album.isArchived else { return nil }
    let songs = album.songs
    switch Int.random(in: 0..<10) {
    case 0, 1:
        return .changeDetails(ChangeAlbumDetails(title: "Title \(Int.random(in: 0..<1000))", releaseYear: .set(Int.random(in: 1900...2020))))
    case 2, 3:
        return songs.count >= 40
            ? .removeSong(songs[0].id)
            : .addSong(
                AddSong(
                    title: "Song \(Int.random(in: 0..<1000))",
                    durationSeconds: Int.random(in: 1...600),
                    trackNumber: Int.random(in: 1...(songs.count + 1))
                )
            )
    case 4, 5:
        guard let song = songs.randomElement() else { return nil }
        return .changeSong(
            ChangeSongDetails(songID: song.id, title: "Renamed \(Int.random(in: 0..<1000))", durationSeconds: .set(Int.random(in: 1...900)))
        )
    case 6:
        guard let song = songs.randomElement() else { return nil }
        return .removeSong(song.id)
    case 7, 8:
        guard songs.count > 1 else { return nil }
        return .reorderTracks(songs.map(\.id).shuffled())
    default:
        return Int.random(in: 0..<20) == 0 ? .archive : .changeDetails(ChangeAlbumDetails(artist: "Artist \(Int.random(in: 0..<50))"))
    }
}
