import CatalogCore
import Domain
import EventLog
import Foundation
import Logging
import Postgres
import ReadModel
import ServiceLifecycle
import TestFaults

/// Runs one projection for as long as the service runs: contends for its leader lock, and while leading
/// applies batches of events in commit-safe order, each batch and its checkpoint in one transaction.
/// Any number of runners may be started; one leads, the others stand by and take over when it goes.
public struct ProjectionRunner: Service, CustomStringConvertible {
    public struct Configuration: Sendable {
        /// Events per batch (one transaction).
        public var batchSize = 500
        /// How long a leader that found nothing new waits before looking again.
        public var pollInterval: Duration = .milliseconds(10)
        /// How often a standby tries the leader lock.
        public var standbyInterval: Duration = .milliseconds(500)
        /// Pause after an error (lost connection, primary restart) before contending again.
        public var retryInterval: Duration = .seconds(1)
        public var onPoison: PoisonPolicy = .halt
        /// Shown by `projections status` as the leader.
        public var runnerName = RunnerName.current

        public init() {}
    }

    public enum BatchOutcome: Equatable, Sendable {
        /// Nothing new after the checkpoint.
        case idle
        /// `count` events were read and applied (or skipped as dead letters).
        case applied(count: Int)
        /// The projection is halted on a dead letter.
        case halted
    }

    public let projection: any Projection
    public let configuration: Configuration
    let client: PostgresClient
    let store: EventStore
    let logger: Logger

    /// `client` connects to the primary as the projector role; the runner holds one of its connections.
    public init(projection: any Projection, client: PostgresClient, configuration: Configuration = .init(), logger: Logger) {
        self.projection = projection
        self.client = client
        self.store = EventStore(client: client)
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "projection"] = "\(projection.name)"
        self.logger = logger
    }

    public var description: String { "ProjectionRunner(\(projection.name))" }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await client.withConnection { try await lead(in: $0) }
                } catch is CancellationError {
                    break
                } catch let error as PostgresError where error.code == .shutDown {
                    break
                } catch {
                    logger.warning("projection runner stopped leading; will contend again", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: configuration.retryInterval)
                }
            }
        }
    }

    /// Waits for the leader lock on `session`, then leads until cancelled or an error.
    func lead(in session: PostgresSession) async throws {
        var announced = false
        while try await !Checkpoints.tryLead(projection.name, in: session) {
            if !announced {
                logger.info("standing by: another runner leads")
                announced = true
            }
            try await Task.sleep(for: configuration.standbyInterval)
        }
        do {
            let fence = try await Checkpoints.takeLeadership(projection.name, leader: configuration.runnerName, in: session)
            logger.info("leading", metadata: ["projection.fence": "\(fence)"])
            try await ReadTables.createIfMissing(projection.tables, in: session)
            try await rebuildIfOutdated(in: session)
            var checkpoint = try await Checkpoints.read(projection.name, in: session)
            var wasHalted = false
            while true {
                try Task.checkCancellation()
                guard try await store.hasEvents(after: checkpoint, in: session) else {
                    try await Task.sleep(for: configuration.pollInterval)
                    continue
                }
                let (outcome, reached) = try await applyNextBatch(fence: fence, in: session)
                checkpoint = reached
                switch outcome {
                case .applied(let count):
                    wasHalted = false
                    if count < configuration.batchSize { try await Task.sleep(for: configuration.pollInterval) }
                case .idle:
                    try await Task.sleep(for: configuration.pollInterval)
                case .halted:
                    if !wasHalted { logger.error("projection halted on a dead letter; see projections status") }
                    wasHalted = true
                    try await Task.sleep(for: .seconds(1))
                }
            }
        } catch {
            await Checkpoints.unlockAll(in: session)
            throw error
        }
    }

    /// One batch as the leader holding `fence`, in one transaction: lock the checkpoint (failing with
    /// `leadershipLost` when the fence was raised), read the events after it, apply them, advance it.
    /// Returns what happened and the checkpoint afterwards.
    public func applyNextBatch(fence: Int64, in session: PostgresSession) async throws -> (BatchOutcome, ConsistencyToken) {
        try await session.withTransaction { tx in
            let (checkpoint, halted) = try await Checkpoints.lock(projection.name, fence: fence, in: tx)
            if halted { return (.halted, checkpoint) }
            let events = try await store.readAll(after: checkpoint, upTo: nil, limit: configuration.batchSize, in: tx)
            if events.isEmpty { return (.idle, checkpoint) }
            let batch = Batch(projection: projection, tables: .live, policy: configuration.onPoison, recordsDeadLetters: true)
            let outcome = try await batch.apply(Self.skipsEvents ? Self.skippingSome(events) : events, in: tx)
            let reached = outcome.last ?? checkpoint
            if reached != checkpoint { try await Checkpoints.advance(projection.name, to: reached, in: tx) }
            if let poison = outcome.poison {
                logger.error(
                    "dead letter",
                    metadata: [
                        "event.token": "\(poison.event.token)", "album.id": "\(poison.event.streamID.uuidString.lowercased())",
                        "error": "\(poison.reason)",
                    ]
                )
                try await Checkpoints.halt(projection.name, reason: "event \(poison.event.token): \(poison.reason)", in: tx)
                return (.halted, reached)
            }
            if outcome.skipped > 0 { logger.warning("skipped dead letters", metadata: ["count": "\(outcome.skipped)"]) }
            return (.applied(count: events.count), reached)
        }
    }

    /// Test fault `projector-skips-event` (breaks I3): the runner leaves out the change of every event
    /// whose position is a multiple of 10 and that is not its album's first (version > 1): about one
    /// event in ten. The event is still counted (the checkpoint passes it, the album's version includes
    /// it, later events of the album apply cleanly), but what it changed is missing from the read model,
    /// which a rebuild (`projections verify`) has. Only the live runner skips; replay and verify do not.
    /// The choice depends on the event alone, so every runner (a standby taking over) skips the same ones.
    /// Off unless the process started with the fault (see `TestFaults`).
    static let skipsEvents = TestFaults.isActive(.projectorSkipsEvent)

    /// `projector-skips-event`: `events` with each skipped one's payload replaced by a change that
    /// changes nothing (removing a song no album has), so the projection counts its version and nothing else.
    static func skippingSome(_ events: [RecordedEvent]) -> [RecordedEvent] {
        events.map { recorded in
            guard recorded.version > 1, recorded.token.position % 10 == 0 else { return recorded }
            var skipped = recorded
            skipped.event = AlbumEvent.songRemoved(SongRemoved(songId: SongID(Self.noSong))).encoded()
            return skipped
        }
    }

    private static let noSong = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    /// Takes the leader lock and raises the fence on `session`, as `run` does; for tests of fencing.
    /// Live tables of another shape than the code's (a deployment changed the projection): rebuild them
    /// with a replay, on other connections of the client, while this runner holds the lead, so that no
    /// batch is applied to a table of the old shape. Readers keep reading the old tables until the swap.
    func rebuildIfOutdated(in session: PostgresSession) async throws {
        let outdated = try await ReadTables.outdated(projection.tables, in: session)
        guard !outdated.isEmpty else { return }
        logger.warning("read tables of another shape than this version's; rebuilding them first", metadata: ["tables": "\(outdated)"])
        let report = try await Rebuild(projection: projection, client: client, batchSize: 2000, logger: logger).replay()
        logger.info(
            "read tables rebuilt",
            metadata: ["events": "\(report.events)", "checkpoint": "\(report.checkpoint)", "elapsed": "\(report.elapsed)"]
        )
    }

    public func takeLeadership(in session: PostgresSession) async throws -> Int64? {
        guard try await Checkpoints.tryLead(projection.name, in: session) else { return nil }
        let fence = try await Checkpoints.takeLeadership(projection.name, leader: configuration.runnerName, in: session)
        try await ReadTables.createIfMissing(projection.tables, in: session)
        return fence
    }
}

/// How a runner names itself in the checkpoint row: host and process id.
public enum RunnerName {
    public static var current: String {
        var buffer = [CChar](repeating: 0, count: 256)
        let host =
            gethostname(&buffer, buffer.count) == 0
            ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown-host"
        return "\(host):\(getpid())"
    }
}
