import ClusterHarness
import Foundation
import Postgres

/// A client on the main cluster's primary as the schema owner (who may create the tables these tests use).
func ownerClient(
    poolSize: Int = 4,
    queryTimeout: Duration = .seconds(10),
    checkoutTimeout: Duration = .seconds(5),
    applicationName: String = "postgres-tests"
) throws -> PostgresClient {
    var configuration = PostgresClient.Configuration(connectionString: try Cluster.value("CATALOG_MIGRATOR_PRIMARY"))
    configuration.poolSize = poolSize
    configuration.queryTimeout = queryTimeout
    configuration.checkoutTimeout = checkoutTimeout
    configuration.applicationName = applicationName
    return try PostgresClient(configuration: configuration)
}

/// A table of its own for one test, dropped afterwards.
func withScratchTable<Result>(
    _ client: PostgresClient,
    columns: String,
    _ body: (String) async throws -> Result
) async throws -> Result {
    let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
    try await client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(name) (\(columns))"))
    do {
        let result = try await body(String(name))
        try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(name)"))
        return result
    } catch {
        _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(name)"))
        throw error
    }
}

extension PostgresClient {
    /// The first column of the first row.
    func scalar<Value: PostgresDecodable>(_ query: PostgresQuery, as type: Value.Type) async throws -> Value {
        let rows = try await self.query(query)
        guard let row = rows.first else { throw PostgresError(code: .decoding, message: "no rows") }
        return try row.decode(type, at: 0)
    }
}
