import ArgumentParser
import CatalogCLI
import CatalogCore
import Domain
import EventLog
import Foundation
import Logging
import Postgres

/// `catalog-seed`: fills a catalog with generated albums through the Domain and the event store (every
/// event decided from the album's state and appended with its expected version), for benchmarks and demos.
@main
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog-seed",
        abstract: "Append generated albums to the event log, decided by the Domain and appended through the event store.",
        discussion: """
            Each album gets a create command (with 3 songs) and then random edits: details, songs added, changed,
            removed and reordered, all decided on the album's state. An album's events are appended at once,
            as a new stream (expected version 0).

            Environment:
              CATALOG_PRIMARY   libpq conninfo of the primary for the writer role (when --primary is not given)

            Exit codes: 0 done, 2 usage, 3 cannot reach the database.
            """
    )

    static func main() async {
        await parseAndRun()
    }

    @Option(name: .long, help: "libpq conninfo of the primary for the writer role (env CATALOG_PRIMARY).")
    var primary: String?

    @Option(name: .long, help: "A file holding --primary's conninfo (env CATALOG_PRIMARY_FILE).")
    var primaryFile: String?

    @Flag(
        name: .long,
        help:
            "Allow a link to the database without verified TLS, to loopback addresses only: development on one machine (env CATALOG_PLAINTEXT_LOOPBACK=1)."
    )
    var plaintextLoopback = false

    @Option(name: .long, help: "Albums to create.")
    var albums = 1000

    @Option(name: .long, help: "Events per album (the first creates it).")
    var eventsPerAlbum = 10

    @Option(name: .long, help: "Concurrent appends.")
    var concurrency = 16

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "catalog-seed")
        guard (1...10_000_000).contains(albums), (1...400).contains(eventsPerAlbum), (1...256).contains(concurrency) else {
            throw ValidationError("--albums takes 1 to 10000000, --events-per-album 1 to 400, --concurrency 1 to 256")
        }
        let conninfo = try ServiceSetup.requiredSecret(primary, file: primaryFile, flag: "--primary", environment: "CATALOG_PRIMARY")
        let link = PostgresTransport(connectionString: conninfo)
        try PlaintextPolicy(flag: plaintextLoopback).check("--primary", secure: link?.verifiesServer, hosts: link?.hosts ?? [])
        var configuration = PostgresClient.Configuration(connectionString: conninfo)
        configuration.poolSize = concurrency
        configuration.applicationName = "catalog-seed"
        let client = try PostgresClient(configuration: configuration, logger: logger)
        let store = EventStore(client: client)
        let started = ContinuousClock.now
        let (albums, eventsPerAlbum, concurrency) = (self.albums, self.eventsPerAlbum, self.concurrency)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<concurrency {
                    group.addTask {
                        for number in stride(from: worker, to: albums, by: concurrency) {
                            let id = AlbumID()
                            let events = Self.history(of: id, number: number, events: eventsPerAlbum)
                            _ = try await store.append(
                                to: id.uuid,
                                expectedVersion: 0,
                                events: events.map { $0.encoded() },
                                metadata: Self.metadata
                            )
                        }
                    }
                }
                try await group.waitForAll()
            }
        } catch let error as PostgresError where error.code == .authenticationFailed {
            logger.error("cannot reach the database", metadata: ["postgres.error": "\(error)"])
            throw ExitCode(3)
        } catch EventStoreError.unavailable(let error) {
            logger.error("cannot reach the database", metadata: ["postgres.error": "\(error)"])
            throw ExitCode(3)
        }
        await client.shutdown()
        let elapsed = ContinuousClock.now - started
        let seconds = elapsed.inSeconds
        print(
            "appended \(albums * eventsPerAlbum) events (\(albums) albums) in \(String(format: "%.1f", seconds)) s"
                + " (\(Int(Double(albums * eventsPerAlbum) / seconds)) events/s)"
        )
    }

    static let artists = (0..<500).map { "Artist \($0)" }
    /// The audit trail of seeded events: written straight into the log, past command-api and its tokens.
    static let metadata = EventMetadata(subject: "catalog-seed", requestID: nil)

    /// An album's events: created, then edits decided one by one on its folded state.
    static func history(of id: AlbumID, number: Int, events count: Int) -> [AlbumEvent] {
        var events: [AlbumEvent] = []
        var album: Album?
        var attempts = 0
        while events.count < count && attempts < count * 20 {
            attempts += 1
            let command =
                album.map(edit)
                ?? .create(
                    CreateAlbum(
                        title: "Album \(number)",
                        artist: artists[number % artists.count],
                        releaseYear: 1950 + number % 70,
                        songs: (1...3).map { NewSong(title: "Track \($0)", durationSeconds: 120 + $0 * 7) }
                    )
                )
            guard let decided = try? Album.decide(command, on: album), !decided.isEmpty else { continue }
            for event in decided.prefix(count - events.count) {
                if album == nil {
                    album = Album.fold(id: id, events: [event])
                } else {
                    album?.apply(event)
                }
                events.append(event)
            }
        }
        return events
    }

    static func edit(_ album: Album) -> AlbumCommand {
        let songs = album.songs
        switch Int.random(in: 0..<6) {
        case 0:
            return .changeDetails(ChangeAlbumDetails(title: "\(album.title) (Remastered \(Int.random(in: 1...99)))"))
        case 1 where songs.count < 30:
            return .addSong(AddSong(title: "Bonus \(Int.random(in: 1...999))", durationSeconds: Int.random(in: 60...600)))
        case 2 where !songs.isEmpty:
            return .changeSong(ChangeSongDetails(songID: songs.randomElement()!.id, durationSeconds: .set(Int.random(in: 60...900))))
        case 3 where songs.count > 1:
            return .removeSong(songs.randomElement()!.id)
        case 4 where songs.count > 1:
            return .reorderTracks(songs.map(\.id).shuffled())
        default:
            return .addSong(AddSong(title: "Song \(Int.random(in: 1...999))", trackNumber: 1))
        }
    }
}
