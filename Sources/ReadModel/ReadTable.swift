/// One table of the read model, which a projection builds: its live name, its key (for comparisons), the version of its shape and its
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
    public var shapeComment: String { "\(name) shape \(shape)" }

    /// COMMENT ON takes no parameters; the comment is made of the table's name (an identifier the code
    /// chose) and a number, so it needs no quoting beyond the literal's.
    public func commentStatement(_ qualifiedName: String) -> String {
        precondition(shapeComment.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == " " })
        return "COMMENT ON TABLE \(qualifiedName) IS '\(shapeComment)'"
    }
}

/// Where the read model's tables are: the live ones, or a copy (a projection's replay or verify builds
/// one) whose names carry a suffix.
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
