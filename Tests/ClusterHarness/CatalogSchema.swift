import EventLog
import Postgres
import ReadModel

/// The catalog's whole schema, as catalog-migrate applies it: the event log's migrations, then the read model's.
public enum CatalogSchema {
    public static let migrations = EventLogSchema.migrations + ReadModelSchema.migrations

    @discardableResult
    public static func migrate(_ owner: PostgresClient) async throws -> [Int] {
        try await owner.migrate(migrations)
    }
}
