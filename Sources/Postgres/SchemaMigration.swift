import Logging

/// One numbered step of a database schema: SQL run once, recorded in `schema_migrations`.
public struct SchemaMigration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

extension PostgresClient {
    /// Applies every pending migration in one transaction, under a transaction-level advisory lock, so two
    /// processes migrating at once apply each migration exactly once (the second waits, then finds nothing
    /// to do). Returns the versions it applied. Run it as the schema owner. The migrations may come from
    /// several modules (the event log's, the read model's) in any order: they run in order of version,
    /// which must be unique.
    @discardableResult
    public func migrate(_ migrations: [SchemaMigration], logger: Logger = Logger(label: "migrations")) async throws -> [Int] {
        let migrations = migrations.sorted { $0.version < $1.version }
        precondition(zip(migrations, migrations.dropFirst()).allSatisfy { $0.version < $1.version }, "two migrations have one version")
        return try await withTransaction { tx in
            try await tx.query("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))")
            try await tx.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
            let applied = Set(try await tx.query("SELECT version FROM schema_migrations").map { try $0.decode(Int.self, at: 0) })
            var done: [Int] = []
            for migration in migrations where !applied.contains(migration.version) {
                try await tx.execute(script: migration.sql)
                try await tx.query("INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))")
                logger.info("applied migration", metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
                done.append(migration.version)
            }
            return done
        }
    }

    /// An arbitrary constant naming the lock every migration run takes.
    public static let migrationLockKey = 7_414_208_114_009
}
