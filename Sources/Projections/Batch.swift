import CatalogCore
import EventLog
import Postgres
import ReadModel

/// What to do with an event a projection cannot apply. Either way it is recorded as a dead letter.
public enum PoisonPolicy: String, Sendable, CaseIterable {
    /// Stop the projection before the event, so that nothing after it is applied out of context.
    case halt
    /// Record it and go on with the next event.
    case skip
}

/// Applies events already read to a projection's tables inside the caller's transaction, dealing with
/// events the projection cannot apply. The one place the runner, replay and verify share.
struct Batch {
    let projection: any Projection
    let tables: TableNames
    let policy: PoisonPolicy
    /// Off for `verify`, which must not leave traces.
    let recordsDeadLetters: Bool

    struct Outcome {
        /// The token of the last event applied or skipped; nil when none was.
        var last: ConsistencyToken?
        /// The event that halted the batch (policy `halt`), and why.
        var poison: (event: RecordedEvent, reason: String)?
        var skipped = 0
    }

    func apply(_ events: [RecordedEvent], in session: PostgresSession) async throws -> Outcome {
        var outcome = Outcome()
        var start = events.startIndex
        while start < events.endIndex {
            switch try await projection.apply(events[start...], to: tables, in: session) {
            case .applied:
                outcome.last = events[events.endIndex - 1].token
                return outcome
            case .failed(let index, let reason):
                if index > start { outcome.last = events[index - 1].token }
                let poison = events[index]
                if recordsDeadLetters {
                    try await Checkpoints.deadLetter(projection.name, event: poison, error: reason, skipped: policy == .skip, in: session)
                }
                guard policy == .skip else {
                    outcome.poison = (poison, reason)
                    return outcome
                }
                outcome.skipped += 1
                outcome.last = poison.token
                start = index + 1
            }
        }
        return outcome
    }
}
