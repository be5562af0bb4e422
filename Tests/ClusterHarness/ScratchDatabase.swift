import Foundation

/// A database of its own on the main cluster, made like the catalog database (same owner, grants and
/// extensions), for tests that must not see or leave events in the shared one: poison events, replays,
/// exact counts. Replication carries it to every replica. `drop()` removes it.
public final class ScratchDatabase: Sendable {
    public let name: String

    public init(_ purpose: String) async throws {
        name = "test_\(purpose)_\(UInt32.random(in: 0...UInt32.max))"
        try await Self.psql(database: "catalog", "CREATE DATABASE \(name) OWNER catalog_owner")
        try await Self.psql(
            database: name,
            """
            REVOKE ALL ON DATABASE \(name) FROM PUBLIC;
            GRANT CONNECT ON DATABASE \(name) TO catalog_owner, catalog_writer, catalog_projector, catalog_reader;
            REVOKE ALL ON SCHEMA public FROM PUBLIC;
            ALTER SCHEMA public OWNER TO catalog_owner;
            CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
            """
        )
        // Replicas replay CREATE DATABASE a moment later; a client connecting before that is refused.
        for node in try Cluster.entries("CATALOG_ADMIN_NODES") where node.name != "primary" {
            for attempt in 0..<200 {
                let found = try await Self.run(psql: node.conninfo, "SELECT count(*) FROM pg_database WHERE datname = '\(name)'")
                if found == "1" { break }
                if attempt == 199 { throw HarnessError("\(node.name) never got database \(name)") }
                try await Task.sleep(for: .milliseconds(25))
            }
        }
    }

    /// The conninfo in `variable` (CATALOG_PRIMARY, CATALOG_PROJECTOR_PRIMARY, ...) pointed at this database.
    public func conninfo(_ variable: String) throws -> String {
        try Cluster.value(variable) + " dbname=\(name)"
    }

    /// Each replica's reader conninfo, pointed at this database.
    public func replicas() throws -> [(name: String, conninfo: String)] {
        try Cluster.entries("CATALOG_REPLICAS").map { ($0.name, $0.conninfo + " dbname=\(name)") }
    }

    /// The superuser conninfo of `node`, pointed at this database.
    public func admin(_ node: String = "primary") throws -> String {
        try Cluster.admin(node) + " dbname=\(name)"
    }

    /// Environment for a child process (the `projections` tool) working on this database.
    public func environment() throws -> [String: String] {
        ["CATALOG_PROJECTOR_PRIMARY": try conninfo("CATALOG_PROJECTOR_PRIMARY")]
    }

    /// Runs SQL as the superuser in this database and returns psql's unaligned output.
    @discardableResult
    public func psql(_ sql: String) async throws -> String {
        try await Self.psql(database: name, sql)
    }

    public func drop() async {
        _ = try? await Self.psql(database: "catalog", "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    @discardableResult
    static func psql(database: String, _ sql: String) async throws -> String {
        try await run(psql: try Cluster.admin("primary") + " dbname=\(database)", sql)
    }

    /// Runs SQL through psql with any conninfo (e.g. a replica's superuser) and returns its output.
    @discardableResult
    public static func run(psql conninfo: String, _ sql: String) async throws -> String {
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let result = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Result {
                        try ChildProcess.run(
                            "/usr/bin/psql",
                            arguments: [conninfo, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                            environment: environment
                        )
                    }
                )
            }
        }
        guard result.status == 0 else { throw HarnessError("psql failed: \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
