import ClusterHarness
import EventLog
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Postgres
import Testing

/// A reply as the tests look at it.
struct Reply: Sendable {
    var status: Int
    var headers: HTTPFields
    var body: String

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
}

/// One request to a service started by a test, on a connection of its own.
func request(
    port: Int,
    _ method: HTTPRequest.Method,
    _ path: String,
    body: String? = nil,
    headers: HTTPFields = [:]
) async throws -> Reply {
    let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(10)))
    client.connect()
    defer { Task { try? await client.shutdown() } }
    var fields = headers
    if body != nil { fields[.contentType] = "application/json" }
    // The cluster's development token: command-api authenticates every command.
    if fields[.authorization] == nil, let token = try? Cluster.value("CATALOG_TOKEN") { fields[.authorization] = "Bearer \(token)" }
    let response = try await client.execute(.init(path, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) }))
    return Reply(status: Int(response.status.code), headers: response.headers, body: response.body.map { String(buffer: $0) } ?? "")
}

/// A service binary started by a test, with `CATALOG_*` from the cluster plus `environment`, its output
/// in a log file under .build.
func startService(_ name: String, arguments: [String] = [], environment: [String: String]) throws -> BackgroundProcess {
    let log = Cluster.repositoryRoot.appendingPathComponent(".build/test-faults-\(name)-\(UUID().uuidString.prefix(8)).log").path
    return try BackgroundProcess(
        try Cluster.executable(name),
        arguments: arguments,
        environment: try Cluster.environment().merging(environment) { $1 },
        logPath: log
    )
}

/// Waits for `process` to exit, at most `limit`; SIGKILLs it and returns nil when it did not.
func exitStatus(of process: BackgroundProcess, within limit: Duration) async -> Int32? {
    await withTaskGroup(of: Int32?.self) { group in
        group.addTask { await process.wait() }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        let first = await group.next() ?? nil
        if first == nil {
            process.signal(SIGKILL)
            _ = await group.next()
        }
        group.cancelAll()
        return first
    }
}

/// Waits until the service on `port` answers /health/live.
func waitUntilLive(port: Int, _ process: BackgroundProcess) async throws {
    let live = try await within(.seconds(30)) { (try? await request(port: port, .get, "/health/live"))?.status == 200 }
    try #require(live, "not live: \(process.output)")
}

let kindOfBlue = #"{"title":"Kind of Blue","artist":"Miles Davis","releaseYear":1959,"songs":[{"title":"So What","durationSeconds":562}]}"#

/// Runs the catalog's migrations as its owner on `conninfo`, as catalog-migrate does: migrations wait for
/// each other on an advisory lock, so the statements get catalog-migrate's two minutes.
func migrate(_ conninfo: String) async throws {
    var configuration = PostgresClient.Configuration(connectionString: conninfo)
    configuration.poolSize = 1
    configuration.queryTimeout = .seconds(120)
    let owner = try PostgresClient(configuration: configuration)
    try await CatalogSchema.migrate(owner)
    await owner.shutdown()
}

/// Migrates the shared catalog database. A test whose service writes to it must call this first: on a
/// fresh cluster no other suite may have run the migrations yet (the table is then missing, 42P01, and
/// the command answers 500).
func migrateCatalog() async throws {
    try await migrate(try Cluster.value("CATALOG_MIGRATOR_PRIMARY"))
}

/// A scratch database with the catalog's schema (a fault of the projector must not spoil the shared one).
func migratedScratchDatabase(_ purpose: String) async throws -> ScratchDatabase {
    let database = try await ScratchDatabase(purpose)
    do {
        try await migrate(try database.conninfo("CATALOG_MIGRATOR_PRIMARY"))
        return database
    } catch {
        await database.drop()
        throw error
    }
}
