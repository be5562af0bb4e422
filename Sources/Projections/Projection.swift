import EventLog
import Postgres

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

/// One table of a projection: its live name, its key (for comparisons), the version of its shape and its
/// definition.
public struct ReadTable: Sendable {
    public let name: String
    public let key: String
    /// Raised whenever the definition or the meaning of the rows changes. Each table carries its shape as
    /// its comment; a runner that finds live tables of another shape rebuilds them (a replay) first.
    public let shape: Int
    /// `CREATE TABLE` and `CREATE INDEX` statements for a copy of the table called `name` (schema-qualified),
    /// naming each index `<name>_<something>` so that a swap can rename them with the table.
    public let definition: @Sendable (_ qualifiedName: String, _ bareName: String) -> String

    public init(
        name: String,
        key: String,
        shape: Int = 1,
        definition: @escaping @Sendable (_ qualifiedName: String, _ bareName: String) -> String
    ) {
        self.name = name
        self.key = key
        self.shape = shape
        self.definition = definition
    }

    /// The table's comment, which records its shape.
    var shapeComment: String { "\(name) shape \(shape)" }

    /// COMMENT ON takes no parameters; the comment is made of the table's name (an identifier the code
    /// chose) and a number, so it needs no quoting beyond the literal's.
    func commentStatement(_ qualifiedName: String) -> String {
        precondition(shapeComment.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == " " })
        return "COMMENT ON TABLE \(qualifiedName) IS '\(shapeComment)'"
    }
}

/// Where a projection's tables are: the live ones, or a copy whose names carry a suffix.
public struct TableNames: Sendable, Equatable {
    public static let schema = "read_model"
    public static let live = TableNames(suffix: "")
    /// The shadow tables a replay builds and then swaps in.
    public static let rebuild = TableNames(suffix: "_rebuild")
    /// The tables `verify` builds aside and compares.
    public static let verify = TableNames(suffix: "_verify")

    public let suffix: String

    /// The table's name without the schema.
    public func bare(_ table: String) -> String { table + suffix }

    /// The schema-qualified name of `table`, ready to be put in SQL.
    public func callAsFunction(_ table: String) -> String { "\(Self.schema).\(table)\(suffix)" }
}
