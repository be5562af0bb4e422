import Foundation
import Postgres

/// The read model's tables as a projection's engine manages them: whether they exist and have the code's
/// shape, copies of them (a replay's shadow, verify's copy), the swap of a shadow in, and the comparison of
/// the live rows with a copy's. Every statement on the read tables' structure lives here; a projection's
/// own SQL writes their rows.
public enum ReadTables {
    /// One row that differs between the live table and the rebuilt copy.
    public struct Difference: Sendable, CustomStringConvertible {
        public var table: String
        public var key: String
        /// The row as JSON on each side; nil where the row is missing.
        public var live: String?
        public var rebuilt: String?

        public var description: String {
            guard let live else { return "\(table) \(key): missing from the live table" }
            guard let rebuilt else { return "\(table) \(key): in the live table but not in the rebuild" }
            let fields = Self.differingFields(live, rebuilt)
            return "\(table) \(key): " + fields.map { "\($0.name) live=\($0.live) rebuilt=\($0.rebuilt)" }.joined(separator: "; ")
        }

        static func differingFields(_ live: String, _ rebuilt: String) -> [(name: String, live: String, rebuilt: String)] {
            guard let left = try? JSONSerialization.jsonObject(with: Data(live.utf8)) as? [String: Any],
                let right = try? JSONSerialization.jsonObject(with: Data(rebuilt.utf8)) as? [String: Any]
            else { return [("row", live, rebuilt)] }
            return Set(left.keys).union(right.keys).sorted().compactMap { key in
                let l = Self.render(left[key])
                let r = Self.render(right[key])
                return l == r ? nil : (key, l, r)
            }
        }

        private static func render(_ value: Any?) -> String {
            guard let value, !(value is NSNull) else { return "null" }
            if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
                return String(decoding: data, as: UTF8.self)
            }
            return "\(value)"
        }
    }

    /// Whether the live table exists (a projection that has never run has none).
    public static func exists(_ table: ReadTable, in session: PostgresSession) async throws -> Bool {
        let rows = try await session.query("SELECT to_regclass(\(TableNames.live(table.name))) IS NOT NULL")
        return try rows.first?.decode(Bool.self, at: 0) ?? false
    }

    /// Creates the live tables that do not exist yet (a projection that has never run).
    public static func createIfMissing(_ tables: [ReadTable], in session: PostgresSession) async throws {
        for table in tables {
            if try await !exists(table, in: session) {
                try await session.withTransaction { tx in
                    try await tx.execute(script: table.definition(TableNames.live(table.name), TableNames.live.bare(table.name)))
                    try await tx.execute(script: "GRANT SELECT ON \(TableNames.live(table.name)) TO catalog_reader")
                    try await tx.execute(script: table.commentStatement(TableNames.live(table.name)))
                }
            }
        }
    }

    /// (Re)creates a copy of the tables; the reader may read a shadow (it becomes live).
    public static func create(_ tables: [ReadTable], _ names: TableNames, unlogged: Bool, in session: PostgresSession) async throws {
        try await session.withTransaction { tx in
            for table in tables {
                try await tx.execute(script: "DROP TABLE IF EXISTS \(names(table.name))")
                var definition = table.definition(names(table.name), names.bare(table.name))
                if unlogged, let range = definition.range(of: "CREATE TABLE") {
                    definition.replaceSubrange(range, with: "CREATE UNLOGGED TABLE")
                }
                try await tx.execute(script: definition)
                try await tx.execute(script: table.commentStatement(names(table.name)))
                if !unlogged { try await tx.execute(script: "GRANT SELECT ON \(names(table.name)) TO catalog_reader") }
            }
        }
    }

    /// The live tables whose recorded shape is not the code's: they must be rebuilt before the runner goes on.
    public static func outdated(_ tables: [ReadTable], in session: PostgresSession) async throws -> [String] {
        var outdated: [String] = []
        for table in tables {
            let rows = try await session.query("SELECT obj_description(to_regclass(\(TableNames.live(table.name))), 'pg_class')")
            if try rows.first?.decode(String?.self, at: 0) != table.shapeComment { outdated.append(table.name) }
        }
        return outdated
    }

    public static func drop(_ tables: [ReadTable], _ names: TableNames, in session: PostgresSession) async throws {
        for table in tables {
            try await session.execute(script: "DROP TABLE IF EXISTS \(names(table.name))")
        }
    }

    /// Replaces each live table by its shadow, renaming the shadow's indexes to the live names.
    public static func swap(_ tables: [ReadTable], in tx: PostgresSession) async throws {
        for table in tables {
            let live = TableNames.live.bare(table.name)
            let shadow = TableNames.rebuild.bare(table.name)
            try await tx.execute(script: "DROP TABLE IF EXISTS \(TableNames.live(table.name))")
            try await tx.execute(script: "ALTER TABLE \(TableNames.rebuild(table.name)) RENAME TO \(live)")
            let indexes = try await tx.query(
                "SELECT indexname FROM pg_indexes WHERE schemaname = \(TableNames.schema) AND tablename = \(live)"
            ).map { try $0.decode(String.self, at: 0) }
            for index in indexes where index.hasPrefix(shadow + "_") {
                let renamed = live + index.dropFirst(shadow.count)
                try await tx.execute(script: "ALTER INDEX \(TableNames.schema).\(index) RENAME TO \(renamed)")
            }
        }
    }

    /// Rows that differ between the live table and the verify copy: how many, and the first `limit`.
    public static func compare(_ table: ReadTable, limit: Int, in tx: PostgresSession) async throws -> (Int, [Difference]) {
        let rows = try await tx.query(
            """
            SELECT coalesce(l.\(unsafeSQL: table.key), r.\(unsafeSQL: table.key))::text, to_jsonb(l)::text, to_jsonb(r)::text,
                   count(*) OVER ()
            FROM \(unsafeSQL: TableNames.live(table.name)) l
            FULL JOIN \(unsafeSQL: TableNames.verify(table.name)) r ON l.\(unsafeSQL: table.key) = r.\(unsafeSQL: table.key)
            WHERE to_jsonb(l) IS DISTINCT FROM to_jsonb(r)
            ORDER BY 1
            LIMIT \(max(limit, 1))
            """
        )
        let differences = try rows.prefix(max(limit, 0)).map { row in
            Difference(
                table: table.name,
                key: try row.decode(String.self, at: 0),
                live: try row.decode(String?.self, at: 1),
                rebuilt: try row.decode(String?.self, at: 2)
            )
        }
        return (try rows.first?.decode(Int.self, at: 3) ?? 0, differences)
    }
}
