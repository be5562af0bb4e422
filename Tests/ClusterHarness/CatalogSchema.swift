import EventLog
import Postgres
import ReadModel

/// The catalog's whole schema, as catalog-migrate applies it: the event log's and the read model's
/// migrations in order of version.
public enum CatalogSchema {
    public static let migrations = (EventLogSchema.migrations + ReadModelSchema.migrations).sorted { $0.version < $1.version }

    @discardableResult
    public static func migrate(_ owner: PostgresClient) async throws -> [Int] {
        try await owner.migrate(migrations)
    }
}
