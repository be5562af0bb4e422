/// The rows of one statement, copied out of libpq's result so that they outlive it.
public struct PostgresRows: Sendable, RandomAccessCollection {
    public struct Column: Sendable, Hashable {
        public var name: String
        public var oid: UInt32
    }

    public let columns: [Column]
    /// Row-major cells; nil is SQL NULL.
    let cells: [String?]
    /// Rows the statement inserted, updated or deleted (from the command tag), when it says so.
    public let affectedRows: Int?
    public let commandTag: String

    init(columns: [Column], cells: [String?], affectedRows: Int?, commandTag: String) {
        self.columns = columns
        self.cells = cells
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { columns.isEmpty ? 0 : cells.count / columns.count }

    public subscript(position: Int) -> PostgresRow {
        PostgresRow(rows: self, index: position)
    }

    func columnIndex(named name: String) -> Int? {
        columns.firstIndex { $0.name == name }
    }
}

public struct PostgresRow: Sendable {
    let rows: PostgresRows
    let index: Int

    public var columns: [PostgresRows.Column] { rows.columns }

    /// The raw text of a column, nil for NULL.
    public func text(at column: Int) -> String? {
        rows.cells[index * rows.columns.count + column]
    }

    public func decode<Value: PostgresDecodable>(_ type: Value.Type, at column: Int) throws(PostgresError) -> Value {
        guard column >= 0, column < rows.columns.count else {
            throw PostgresError(code: .decoding, message: "no column at index \(column)")
        }
        let oid = rows.columns[column].oid
        guard let text = text(at: column) else {
            if let none = (Value.self as? any ExpressibleByNilLiteral.Type)?.init(nilLiteral: ()) as? Value { return none }
            throw PostgresError(code: .decoding, message: "column \(rows.columns[column].name) is NULL, expected \(Value.self)")
        }
        do {
            return try Value(postgresText: text, oid: oid)
        } catch {
            throw PostgresError(code: .decoding, message: "column \(rows.columns[column].name) (type oid \(oid)) is not \(error.expected)")
        }
    }

    public func decode<Value: PostgresDecodable>(_ type: Value.Type, column name: String) throws(PostgresError) -> Value {
        guard let column = rows.columnIndex(named: name) else {
            throw PostgresError(code: .decoding, message: "no column named \(name)")
        }
        return try decode(type, at: column)
    }
}
