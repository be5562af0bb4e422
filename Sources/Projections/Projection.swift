import EventLog
import Postgres
import ReadModel

/// A read model built from the event log: the tables it owns and how one batch of events changes them.
/// The engine (runner, replay, verify) supplies the events, the transaction and the table names, so the
/// same `apply` builds the live tables, a shadow copy during a replay, and the copy `verify` compares.
public protocol Projection: Sendable {
    /// The projection's name in checkpoints, dead letters and on the command line.
    var name: String { get }
    /// Its tables, in the read model schema.
    var tables: [ReadTable] { get }
    /// Applies `events`, in order, to `tables`. Returns at the first event it cannot apply, having applied
    /// exactly the ones before it; the engine then dead-letters that event and halts or skips it.
    func apply(_ events: ArraySlice<RecordedEvent>, to tables: TableNames, in session: PostgresSession) async throws -> ApplyOutcome
}

public enum ApplyOutcome: Equatable, Sendable {
    case applied
    /// The event at `index` (an index of the slice passed in) cannot be applied, for `reason`.
    case failed(index: Int, reason: String)
}
