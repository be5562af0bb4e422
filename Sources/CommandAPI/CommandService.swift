import CatalogCore
import Domain
import EventLog
import FenceOutbox
import Foundation
import HTTPEdge
import Logging

/// What a successful command answers with.
struct CommandOutcome: Equatable, Sendable {
    var albumID: AlbumID
    var version: Int
    var token: ConsistencyToken
    var songID: SongID?
}

/// Runs one command: load the album's stream, let the Domain decide, append with the expected version.
/// Without If-Match a lost race is retried against the new state, so clients never see a spurious
/// conflict; with it, the race is the client's answer (412).
struct CommandService: Sendable {
    let store: EventStore
    let metrics: CommandMetrics
    /// Where each command records its cache fence before it commits; nil when command-api runs without Redis.
    let outbox: Outbox?
    /// Attempts before a command that keeps losing races is answered 503.
    let maximumAttempts = 32

    func handle(
        _ command: AlbumCommand,
        on albumID: AlbumID,
        ifMatch: IfMatch?,
        idempotency: IdempotencyKey?,
        metadata: EventMetadata,
        logger: Logger
    ) async throws -> CommandOutcome {
        let started = ContinuousClock.now
        do {
            let outcome = try await run(command, on: albumID, ifMatch: ifMatch, idempotency: idempotency, metadata: metadata)
            metrics.record(command: command.name, outcome: "ok", duration: ContinuousClock.now - started)
            return outcome
        } catch {
            let problem = Self.problem(for: error, logger: logger)
            metrics.record(command: command.name, outcome: problem.outcome, duration: ContinuousClock.now - started)
            throw problem.problem
        }
    }

    private func run(
        _ command: AlbumCommand,
        on albumID: AlbumID,
        ifMatch: IfMatch?,
        idempotency: IdempotencyKey?,
        metadata: EventMetadata
    ) async throws -> CommandOutcome {
        if let idempotency, let earlier = try await store.command(withKey: idempotency.key) {
            switch earlier.refusal(of: idempotency, by: metadata.subject) {
            case .duplicate: return Self.outcome(of: earlier.events)
            case .idempotencyKeyOfAnotherSubject: throw Problem.idempotencyKeyOfAnotherSubject
            default: throw Problem.idempotencyKeyReused
            }
        }
        for attempt in 1...maximumAttempts {
            // A new album's id was just made, so its stream is empty: no need to read it (unless a retry must).
            let isFirstCreate: Bool = if case .create = command, attempt == 1 { true } else { false }
            let stream = isFirstCreate ? [] : try await store.readStream(albumID.uuid)
            let album = Album.fold(id: albumID, events: try stream.map { try AlbumEvent(decoding: $0.event) })
            if let ifMatch {
                guard let album else { throw DomainError.albumNotFound }
                guard ifMatch.admits(album.version) else { throw Problem.versionMismatch(current: album.version) }
            }
            let events = try Album.decide(command, on: album)
            guard !events.isEmpty else {
                // A change to the values the album already has: nothing to append.
                return CommandOutcome(albumID: albumID, version: stream.count, token: stream.last?.token ?? .origin, songID: nil)
            }
            // The fence this write needs, recorded durably before it can commit (invariant I6). A failure
            // other than a refused append (connection lost, commit outcome unknown) leaves the intent
            // pending: the relay settles it by asking the primary.
            let intent = try await recordIntent(album: albumID, version: stream.count + events.count)
            do {
                if FaultPoints.ackBeforeCommit {
                    let result = try await appendCommittingLater(
                        to: albumID.uuid,
                        expectedVersion: stream.count,
                        events: events.map { $0.encoded() },
                        metadata: metadata,
                        idempotency: idempotency,
                        intent: intent
                    )
                    return Self.outcome(of: result.events)
                }
                let result = try await store.append(
                    to: albumID.uuid,
                    expectedVersion: stream.count,
                    events: events.map { $0.encoded() },
                    metadata: metadata,
                    idempotency: idempotency
                )
                if FaultPoints.killAfterCommit { FaultPoints.kill() }
                try await settle(intent, committed: true)
                return Self.outcome(of: result.events)
            } catch AppendError.versionConflict {
                // Another command won the race: read again, and check If-Match against the new version.
                try await settle(intent, committed: false)
                if attempt == maximumAttempts { break }
            } catch AppendError.duplicate(let earlier) {
                try await settle(intent, committed: false)
                return Self.outcome(of: earlier.events)
            } catch AppendError.idempotencyKeyReused {
                try await settle(intent, committed: false)
                throw Problem.idempotencyKeyReused
            } catch AppendError.idempotencyKeyOfAnotherSubject {
                try await settle(intent, committed: false)
                throw Problem.idempotencyKeyOfAnotherSubject
            }
        }
        throw Problem.unavailable("the album is changing too fast; retry", retryAfterSeconds: 1)
    }

    /// Test fault `ack-before-commit` (breaks I1): appends in a transaction of its own and returns the
    /// append's result (the same events, versions and token the commit will have) as soon as the insert
    /// succeeded, while the transaction stays open; it commits `FaultPoints.ackedCommitDelay` later, and
    /// only then is the outbox intent marked committed. A SIGKILL (or a lost connection) in between loses
    /// a command already acknowledged. An insert that fails is rolled back and the append made again the
    /// ordinary way, so refusals (conflict, duplicate, key reused) are answered as without the fault.
    private func appendCommittingLater(
        to stream: UUID,
        expectedVersion: Int,
        events: [EncodedEvent],
        metadata: EventMetadata,
        idempotency: IdempotencyKey?,
        intent: Outbox.Ticket?
    ) async throws -> AppendResult {
        let store = self.store
        return try await withCheckedThrowingContinuation { (answer: CheckedContinuation<AppendResult, any Error>) in
            Task {
                var acknowledged = false
                do {
                    _ = try await store.append(
                        to: stream,
                        expectedVersion: expectedVersion,
                        events: events,
                        metadata: metadata,
                        idempotency: idempotency
                    ) {
                        answer.resume(returning: $0)
                        acknowledged = true
                        try? await Task.sleep(for: FaultPoints.ackedCommitDelay)
                    }
                } catch  where !acknowledged {
                    do {
                        let result = try await store.append(
                            to: stream,
                            expectedVersion: expectedVersion,
                            events: events,
                            metadata: metadata,
                            idempotency: idempotency
                        )
                        try? await settle(intent, committed: true)
                        answer.resume(returning: result)
                    } catch {
                        answer.resume(throwing: error)
                    }
                    return
                } catch {
                    // The acknowledged command is lost; its intent stays pending and is settled as aborted.
                    return
                }
                try? await settle(intent, committed: true)
            }
        }
    }

    private func recordIntent(album: AlbumID, version: Int) async throws -> Outbox.Ticket? {
        guard let outbox else { return nil }
        do {
            return try await outbox.record(album: album.uuid, version: version)
        } catch {
            throw Problem.unavailable("the outbox cannot record the command's cache fence; retry", retryAfterSeconds: 1)
        }
    }

    /// Marks the intent: committed (the relay delivers its fence now; in memory, no disk write) or aborted
    /// (nothing to deliver). An intent left pending (a crash, a failed write) is settled by the relay.
    private func settle(_ intent: Outbox.Ticket?, committed: Bool) async throws {
        guard let outbox, let intent else { return }
        if committed {
            outbox.markCommitted(intent)
        } else {
            try? await outbox.markAborted(intent)
        }
    }

    private static func outcome(of events: [RecordedEvent]) -> CommandOutcome {
        let last = events[events.count - 1]
        var songID: SongID?
        if let first = events.first, first.event.type == "SongAdded", case .songAdded(let added)? = try? AlbumEvent(decoding: first.event) {
            songID = added.songId
        }
        return CommandOutcome(albumID: AlbumID(last.streamID), version: last.version, token: last.token, songID: songID)
    }

    /// Maps every failure to the problem the client sees, and a short outcome label for metrics.
    static func problem(for error: any Error, logger: Logger) -> (problem: Problem, outcome: String) {
        switch error {
        case let problem as Problem:
            return (problem, problem.status == .preconditionFailed ? "conflict" : problem.status.code >= 500 ? "unavailable" : "rejected")
        case let domain as DomainError:
            switch domain {
            case .invalid(let errors):
                return (.invalid(errors.map { .init(field: $0.field, message: $0.message) }), "invalid")
            case .albumNotFound: return (.albumNotFound, "not_found")
            case .albumArchived: return (.albumArchived, "archived")
            case .songNotFound(let id): return (.songNotFound(id.description), "not_found")
            case .albumExists: return (Problem(.conflict, "Album exists"), "rejected")
            }
        case EventStoreError.unavailable(let error):
            logger.warning("primary unavailable", metadata: ["postgres.error": "\(error)"])
            return (.unavailable("the primary database cannot be reached; retry shortly"), "unavailable")
        case EventStoreError.timedOut(let error):
            logger.warning("primary too slow", metadata: ["postgres.error": "\(error)"])
            return (.unavailable("the primary took too long to answer; the command was not applied; retry"), "unavailable")
        case EventStoreError.transient(let error):
            logger.warning("primary refused for now", metadata: ["postgres.error": "\(error)"])
            return (.unavailable("the primary cannot take the command right now; the command was not applied; retry"), "unavailable")
        default:
            logger.error("command failed", metadata: ["error": "\(String(describing: type(of: error))): \(error)"])
            return (Problem(.internalServerError, "Internal error", detail: "the command was not applied"), "error")
        }
    }
}
