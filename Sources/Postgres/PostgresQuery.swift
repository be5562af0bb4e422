import Synchronization

/// A SQL statement whose interpolated values travel as `$n` binds, never as SQL text:
///
///     let rows = try await client.query("SELECT title FROM albums WHERE id = \(albumId)")
///
/// Raw SQL text can only be added through the loudly named `unsafeSQL:`.
public struct PostgresQuery: Sendable, Hashable, ExpressibleByStringInterpolation {
    public var sql: String
    public var binds: [PostgresBind]
    /// The `PostgresStatement` it was made from: a connection finds its prepared statement by this number
    /// instead of hashing the SQL text each time.
    var statement: PostgresStatement.Key?
    /// How the server plans it on an exclusive connection (see `Plan`).
    public var plan: Plan = .chosenByServer

    /// How PostgreSQL plans a prepared statement with binds.
    public enum Plan: Sendable, Hashable {
        /// PostgreSQL's own choice (`plan_cache_mode = auto`): after five executions it keeps one
        /// generic plan when that plan's estimated cost is no higher than the plans it made for the
        /// values, else it plans again for every execution.
        case chosenByServer
        /// One generic plan per connection, reused for every execution (`force_generic_plan`): for a
        /// statement whose best plan does not depend on its values but whose generic estimate looks
        /// costlier than it is, so that PostgreSQL would plan it again on every call (a keyset page's
        /// `LIMIT $n` does this: bench/reads measured a list page's planning as two fifths of the server's
        /// time for it). Never for a statement whose plan must follow its values (a search pattern).
        case generic
    }

    /// This query with `plan`.
    public func planned(_ plan: Plan) -> PostgresQuery {
        var query = self
        query.plan = plan
        return query
    }

    public init(unsafeSQL sql: String, binds: [PostgresBind] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: String
        var binds: [PostgresBind] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            binds.append(value.postgresBind)
            sql += "$\(binds.count)"
        }

        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            binds.append(value?.postgresBind ?? .null)
            sql += "$\(binds.count)"
        }

        /// Appends SQL text as it is. Only for text the program controls (identifiers, fixed fragments).
        public mutating func appendInterpolation(unsafeSQL fragment: String) {
            sql += fragment
        }
    }
}

/// A statement the program runs often, written once: its SQL with `$n` placeholders and the type of each.
/// A query made from it carries a number that identifies it in this process, so a pipelined connection
/// finds the statement it prepared by comparing numbers, not by building and hashing the SQL per read.
///
///     static let albumByID = PostgresStatement("SELECT ... WHERE id = $1", types: [PostgresOID.uuid])
///     let rows = try await client.read(Self.albumByID(id))
public struct PostgresStatement: Sendable {
    public struct Key: Sendable, Hashable {
        let number: Int
    }

    public let sql: String
    /// The parameters' type OIDs, as the statement is prepared with.
    public let types: [UInt32]
    let key: Key
    private static let numbers = Atomic<Int>(0)

    public init(_ sql: String, types: [UInt32]) {
        self.sql = sql
        self.types = types
        key = Key(number: Self.numbers.add(1, ordering: .relaxed).newValue)
    }

    /// The statement with these values bound. Values whose types differ from the declared ones (NULL
    /// aside) make a plain query of the same SQL, prepared by its text.
    public func callAsFunction(_ values: (any PostgresEncodable)?...) -> PostgresQuery {
        var query = PostgresQuery(unsafeSQL: sql, binds: values.map { $0?.postgresBind ?? .null })
        let matches =
            query.binds.count == types.count
            && zip(query.binds, types).allSatisfy { bind, type in bind.oid == type || (bind.bytes == nil && bind.oid == PostgresOID.unknown) }
        guard matches else { return query }
        for index in query.binds.indices { query.binds[index].oid = types[index] }
        query.statement = key
        return query
    }
}

/// What a connection keeps its prepared statements by: the `PostgresStatement` a query came from (its
/// declared types), else its SQL text and bind types.
enum PreparedStatementKey: Hashable {
    case statement(PostgresStatement.Key)
    case text(String, types: [UInt32])

    init(_ query: PostgresQuery) {
        self = query.statement.map(Self.statement) ?? .text(query.sql, types: query.binds.map(\.oid))
    }
}

/// One bind value: its type OID (0 lets the server infer it from context), and its bytes.
public struct PostgresBind: Sendable, Hashable {
    public enum Format: Int32, Sendable {
        case text = 0
        case binary = 1
    }

    public var oid: UInt32
    public var bytes: [UInt8]?
    public var format: Format

    public init(oid: UInt32, bytes: [UInt8]?, format: Format = .text) {
        self.oid = oid
        self.bytes = bytes
        self.format = format
    }

    public init(oid: UInt32, text: String) {
        self.init(oid: oid, bytes: Array(text.utf8))
    }

    public static let null = PostgresBind(oid: 0, bytes: nil)
}

/// Type OIDs of the built-in types this client binds and decodes.
public enum PostgresOID {
    public static let unknown: UInt32 = 0
    public static let bool: UInt32 = 16
    public static let bytea: UInt32 = 17
    public static let int8: UInt32 = 20
    public static let int2: UInt32 = 21
    public static let int4: UInt32 = 23
    public static let text: UInt32 = 25
    public static let json: UInt32 = 114
    public static let float4: UInt32 = 700
    public static let float8: UInt32 = 701
    public static let varchar: UInt32 = 1043
    public static let date: UInt32 = 1082
    public static let timestamp: UInt32 = 1114
    public static let timestamptz: UInt32 = 1184
    public static let numeric: UInt32 = 1700
    public static let uuid: UInt32 = 2950
    public static let jsonb: UInt32 = 3802
    public static let boolArray: UInt32 = 1000
    public static let int8Array: UInt32 = 1016
    public static let textArray: UInt32 = 1009
    public static let uuidArray: UInt32 = 2951
}
