import Foundation
import Synchronization
import Testing

/// The local cluster of `infra/cluster`, as the integration tests see it: its configuration (from the
/// environment, else from `infra/cluster env`) and a way to run the script.
public enum Cluster {
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private static let cached = Mutex<[String: String]?>(nil)

    /// The CATALOG_ variables of the running main cluster.
    public static func environment() throws -> [String: String] {
        if let values = cached.withLock({ $0 }) { return values }
        let process = ProcessInfo.processInfo.environment
        var values: [String: String]
        if process["CATALOG_PRIMARY"] != nil {
            values = process.filter { $0.key.hasPrefix("CATALOG_") }
        } else {
            let result = try ChildProcess.run(
                repositoryRoot.appendingPathComponent("infra/cluster").path,
                arguments: ["env"],
                environment: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
            )
            guard result.status == 0 else {
                throw HarnessError("infra/cluster env failed (is the cluster up? run infra/cluster up): \(result.output)")
            }
            values = parseExports(result.output)
        }
        cached.withLock { $0 = values }
        return values
    }

    /// The trait of every suite that needs the running cluster; a suite without it is a unit suite, which
    /// must pass with PostgreSQL and Redis stopped. With no cluster configured (no CATALOG_PRIMARY in the
    /// environment and `infra/cluster env` failing) the suite is skipped and says why, so that `swift test`
    /// on a machine without PostgreSQL and Redis runs the unit suites and reports the rest as skipped.
    /// scripts/test's unit part sets CATALOG_TEST_NO_CLUSTER=1 (every such suite skipped, even with a
    /// cluster up); its cluster part sets CATALOG_TEST_REQUIRE_CLUSTER=1 (a missing cluster fails them).
    public static var needed: ConditionTrait {
        if ProcessInfo.processInfo.environment["CATALOG_TEST_NO_CLUSTER"] == "1" {
            return .disabled("a cluster suite, and CATALOG_TEST_NO_CLUSTER=1 runs the unit suites only")
        }
        return .enabled("needs the local cluster: run infra/cluster up, or scripts/test, which starts it") { isConfigured }
    }

    static var isConfigured: Bool {
        ProcessInfo.processInfo.environment["CATALOG_TEST_REQUIRE_CLUSTER"] == "1" || (try? environment()) != nil
    }

    public static func value(_ name: String) throws -> String {
        guard let value = try environment()[name] else { throw HarnessError("\(name) is not set by infra/cluster env") }
        return value
    }

    /// `name=conninfo` entries of a list such as CATALOG_REPLICAS or CATALOG_ADMIN_NODES.
    public static func entries(_ name: String) throws -> [(name: String, conninfo: String)] {
        try value(name).split(separator: ",").map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1)
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// The superuser conninfo of one node (for tests that need to look behind the application roles).
    public static func admin(_ node: String) throws -> String {
        guard let entry = try entries("CATALOG_ADMIN_NODES").first(where: { $0.name == node }) else {
            throw HarnessError("no node \(node)")
        }
        return entry.conninfo
    }

    /// Runs `infra/cluster` with the given arguments; `environment` adds to the process environment.
    /// The child runs and is waited for on a thread of its own, off Swift's cooperative pool.
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let executable = repositoryRoot.appendingPathComponent("infra/cluster").path
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try ChildProcess.run(executable, arguments: arguments, environment: variables) })
            }
        }
    }

    public static func parseExports(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("export ") {
            let assignment = line.dropFirst("export ".count)
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            var value = assignment[assignment.index(after: equals)...]
            if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 { value = value.dropFirst().dropLast() }
            values[String(assignment[..<equals])] = String(value)
        }
        return values
    }
}

/// A cluster of its own for tests that stop, start or promote nodes, so they never disturb the main
/// cluster that other tests use. Each suite passes its own name and port block.
public final class ScratchCluster: Sendable {
    public let environment: [String: String]
    private let overrides: [String: String]

    /// `hostsFile`: a placement for `infra/cluster up --hosts` (CATALOG_CLUSTER_HOSTS).
    public init(name: String, postgresPort: Int, redisPort: Int, replicas: Int, hostsFile: String? = nil) async throws {
        let directory = Cluster.repositoryRoot.appendingPathComponent(".cluster-scratch/\(name)").path
        var overrides = [
            "CATALOG_CLUSTER_DIR": directory,
            "CATALOG_CLUSTER_PG_PORT": String(postgresPort),
            "CATALOG_CLUSTER_REDIS_PORT": String(redisPort),
        ]
        if let hostsFile { overrides["CATALOG_CLUSTER_HOSTS"] = hostsFile }
        self.overrides = overrides
        // Start from nothing, so that an earlier run's promotions do not leak in.
        try await Cluster.run(["down", "--purge"], environment: overrides)
        let up = try await Cluster.run(["up", "--replicas", String(replicas)], environment: overrides)
        guard up.status == 0 else { throw HarnessError("scratch cluster \(name) did not come up: \(up.output)") }
        let env = try await Cluster.run(["env"], environment: overrides)
        environment = Cluster.parseExports(env.output)
    }

    public func value(_ name: String) throws -> String {
        guard let value = environment[name] else { throw HarnessError("\(name) is not set") }
        return value
    }

    public func admin(_ node: String) throws -> String {
        for entry in try value("CATALOG_ADMIN_NODES").split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1)
            if parts[0] == node { return String(parts[1]) }
        }
        throw HarnessError("no node \(node)")
    }

    /// Runs `infra/cluster ARGUMENTS` against this cluster and fails when it does.
    @discardableResult
    public func run(_ arguments: String...) async throws -> String {
        let result = try await Cluster.run(arguments, environment: overrides)
        guard result.status == 0 else { throw HarnessError("infra/cluster \(arguments.joined(separator: " ")) failed: \(result.output)") }
        return result.output
    }

    public func destroy() async {
        _ = try? await Cluster.run(["down", "--purge"], environment: overrides)
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
