import CLibPQ
import NIOCore

/// The rows of one statement, copied out of libpq's result so that they outlive it: every cell's bytes
/// in one buffer (one allocation for the whole result, not a `String` per cell), decoded when asked for.
public struct PostgresRows: Sendable, RandomAccessCollection {
    public struct Column: Sendable, Hashable {
        public var name: String
        public var oid: UInt32
    }

    public let columns: [Column]
    /// Every non-NULL cell's bytes, row-major, one after another.
    let storage: ByteBuffer
    /// Row-major: where each cell's bytes start in `storage` and how many there are; a length of -1 is NULL.
    let cells: [Cell]
    /// Rows the statement inserted, updated or deleted (from the command tag), when it says so.
    public let affectedRows: Int?
    public let commandTag: String

    struct Cell: Sendable {
        var offset: Int32
        var length: Int32
        static let null = Cell(offset: 0, length: -1)
    }

    init(columns: [Column], storage: ByteBuffer, cells: [Cell], affectedRows: Int?, commandTag: String) {
        self.columns = columns
        self.storage = storage
        self.cells = cells
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    /// The answer of a statement that returned no rows and said nothing.
    static let empty = PostgresRows(columns: [], storage: ByteBuffer(), cells: [], affectedRows: nil, commandTag: "")

    /// Copies a libpq result (text format).
    init(copying result: OpaquePointer) {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var columns: [Column] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<Int32(columnCount) {
            columns.append(.init(name: String(cString: PQfname(result, column)), oid: PQftype(result, column)))
        }
        var cells: [Cell] = []
        cells.reserveCapacity(rowCount * columnCount)
        var total = 0
        for row in 0..<Int32(rowCount) {
            for column in 0..<Int32(columnCount) where PQgetisnull(result, row, column) == 0 {
                total += Int(PQgetlength(result, row, column))
            }
        }
        var storage = ByteBufferAllocator().buffer(capacity: total)
        for row in 0..<Int32(rowCount) {
            for column in 0..<Int32(columnCount) {
                guard PQgetisnull(result, row, column) == 0 else {
                    cells.append(.null)
                    continue
                }
                let length = Int(PQgetlength(result, row, column))
                cells.append(Cell(offset: Int32(storage.writerIndex), length: Int32(length)))
                storage.writeBytes(UnsafeRawBufferPointer(start: PQgetvalue(result, row, column), count: length))
            }
        }
        self.init(
            columns: columns,
            storage: storage,
            cells: cells,
            affectedRows: Int(String(cString: PQcmdTuples(result))),
            commandTag: String(cString: PQcmdStatus(result))
        )
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

    private func cell(_ column: Int) -> PostgresRows.Cell {
        rows.cells[index * rows.columns.count + column]
    }

    /// The raw text of a column, nil for NULL.
    public func text(at column: Int) -> String? {
        let cell = cell(column)
        guard cell.length >= 0 else { return nil }
        return rows.storage.getString(at: Int(cell.offset), length: Int(cell.length))
    }

    /// A column's bytes as they came (text format), sharing the result's storage: no copy. nil for NULL.
    /// For a JSON document that goes into a response as it is.
    public func buffer(at column: Int) -> ByteBuffer? {
        let cell = cell(column)
        guard cell.length >= 0 else { return nil }
        return rows.storage.getSlice(at: Int(cell.offset), length: Int(cell.length))
    }

    public func decode<Value: PostgresDecodable>(_ type: Value.Type, at column: Int) throws(PostgresError) -> Value {
        guard column >= 0, column < rows.columns.count else {
            throw PostgresError(code: .decoding, message: "no column at index \(column)")
        }
        let oid = rows.columns[column].oid
        let cell = cell(column)
        guard cell.length >= 0 else {
            if let none = (Value.self as? any ExpressibleByNilLiteral.Type)?.init(nilLiteral: ()) as? Value { return none }
            throw PostgresError(code: .decoding, message: "column \(rows.columns[column].name) is NULL, expected \(Value.self)")
        }
        do {
            return try rows.storage.withUnsafeReadableBytes { (bytes) throws(PostgresDecodingError) -> Value in
                try Value(postgresBytes: UnsafeRawBufferPointer(rebasing: bytes[Int(cell.offset)..<Int(cell.offset + cell.length)]), oid: oid)
            }
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
