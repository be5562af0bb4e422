import ArgumentParser
import CatalogCLI
import EventLog
import Foundation
import Logging
import Postgres
import Projections
import ServiceLifecycle
import TestFaults

/// `projections`: runs the projector and gives operators status, replay and verify (CONTRACT.md).
@main
struct ProjectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections",
        abstract: "Run, inspect, rebuild and verify the catalog's read-model projections.",
        discussion: """
            Environment:
              CATALOG_PROJECTOR_PRIMARY   libpq conninfo of the primary for the projector role (when --primary is not given)
              CATALOG_PROJECTOR_PRIMARY_FILE  a file holding it instead
              LOG_LEVEL                   trace, debug, info (default), notice, warning, error, critical

            Projections: \(CatalogProjections.all.map(\.name).joined(separator: ", "))
            Exit codes: 0 success, 1 a finding (verify differences) or a replay that could not finish,
                        2 usage, 3 cannot reach the database.
            """,
        subcommands: [Run.self, Status.self, Replay.self, Verify.self]
    )

    static func main() async {
        await parseAndRun()
    }
}

/// Options every subcommand takes.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: "libpq conninfo of the primary for the projector role (env CATALOG_PROJECTOR_PRIMARY).")
    var primary: String?

    @Option(name: .long, help: "A file holding --primary's conninfo (env CATALOG_PROJECTOR_PRIMARY_FILE).")
    var primaryFile: String?

    @Flag(
        name: .long,
        help:
            "Allow links to the database and Redis without verified TLS, to loopback addresses only: development on one machine (env CATALOG_PLAINTEXT_LOOPBACK=1)."
    )
    var plaintextLoopback = false

    @Option(name: .long, help: "Log level (env LOG_LEVEL, default info).")
    var logLevel: String?

    func bootstrapLogging() {
        ServiceSetup.bootstrapLogging(level: logLevel)
    }

    /// A client of the primary, checked to be reachable (exit 3 when it is not).
    func connect(poolSize: Int, queryTimeout: Duration = .seconds(60), logger: Logger) async throws -> PostgresClient {
        let conninfo = try ServiceSetup.requiredSecret(primary, file: primaryFile, flag: "--primary", environment: "CATALOG_PROJECTOR_PRIMARY")
        let link = PostgresTransport(connectionString: conninfo)
        try PlaintextPolicy(flag: plaintextLoopback).check("--primary", secure: link?.verifiesServer, hosts: link?.hosts ?? [])
        var configuration = PostgresClient.Configuration(connectionString: conninfo)
        configuration.poolSize = poolSize
        configuration.queryTimeout = queryTimeout
        configuration.applicationName = "projections"
        let client: PostgresClient
        do {
            client = try PostgresClient(configuration: configuration, logger: logger)
        } catch {
            throw ValidationError("the connection string cannot be parsed")
        }
        do {
            try await client.query("SELECT 1 FROM read_model.projection_checkpoints LIMIT 0")
        } catch {
            await client.shutdown()
            try Self.exitIfUnreachable(error, logger: logger)
            throw error
        }
        return client
    }

    static func exitIfUnreachable(_ error: any Error, logger: Logger) throws {
        if let error = error as? PostgresError, error.isUnavailable || error.code == .authenticationFailed {
            logger.error("cannot reach the database", metadata: ["postgres.error": "\(error)"])
            throw ExitCode(3)
        }
        // The event store's reads outside a session (a replay's prefetch) name the same failure their way.
        if case EventStoreError.unavailable(let error)? = error as? EventStoreError {
            logger.error("cannot reach the database", metadata: ["postgres.error": "\(error)"])
            throw ExitCode(3)
        }
    }
}

func findProjection(_ name: String) throws -> any Projection {
    guard let projection = CatalogProjections.projection(named: name) else {
        throw ValidationError("no projection named \(name); projections: \(CatalogProjections.all.map(\.name).joined(separator: ", "))")
    }
    return projection
}

/// Runs a replay or verify with its progress on stderr, then closes the client. A failure exits 3 when
/// the database went away, otherwise 1 with the reason on stderr.
func withProgress<Report: Sendable>(
    _ action: String,
    of projection: any Projection,
    client: PostgresClient,
    logger: Logger,
    _ body: (@escaping @Sendable (Rebuild.Progress) -> Void) async throws -> Report
) async throws -> Report {
    let meter = ProgressMeter(label: "\(action) \(projection.name)")
    do {
        let report = try await body { meter.update($0) }
        meter.finish()
        await client.shutdown()
        return report
    } catch {
        meter.finish()
        await client.shutdown()
        try DatabaseOptions.exitIfUnreachable(error, logger: logger)
        FileHandle.standardError.write(Data("\(action) failed: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

extension ProjectionsCommand {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the projector until SIGTERM or SIGINT. One runner leads each projection; others stand by."
        )

        @OptionGroup var options: DatabaseOptions

        @Option(name: .long, help: "A projection to run (repeatable; default all).")
        var projection: [String] = []

        @Option(name: .long, help: "Events per batch (one transaction).")
        var batchSize = 500

        @Option(name: .long, help: "Milliseconds to wait before looking for new events after finding none.")
        var pollInterval = 10

        @Option(name: .long, help: "Milliseconds between a standby's attempts to take the leader lock.")
        var standbyInterval = 500

        @Option(name: .long, help: "What to do with an event a projection cannot apply: halt (default) or skip. Both record a dead letter.")
        var onPoison = "halt"

        func run() async throws {
            options.bootstrapLogging()
            let logger = Logger(label: "projections")
            TestFaults.checkAtStartup(service: "projections run", here: [.projectorSkipsEvent], logger: logger)
            guard (1...100_000).contains(batchSize), (1...60_000).contains(pollInterval), (10...60_000).contains(standbyInterval) else {
                throw ValidationError("--batch-size takes 1 to 100000, --poll-interval 1 to 60000, --standby-interval 10 to 60000")
            }
            guard let policy = PoisonPolicy(rawValue: onPoison) else { throw ValidationError("--on-poison takes halt or skip") }
            let projections = try (projection.isEmpty ? CatalogProjections.all.map(\.name) : projection).map(findProjection)
            // One connection per runner, held while it leads or stands by, and one for the startup check.
            // One connection per runner, and two for a rebuild a runner may start (see ProjectionRunner).
            let client = try await options.connect(poolSize: projections.count + 2, logger: logger)
            var configuration = ProjectionRunner.Configuration()
            configuration.batchSize = batchSize
            configuration.pollInterval = .milliseconds(pollInterval)
            configuration.standbyInterval = .milliseconds(standbyInterval)
            configuration.onPoison = policy
            let runners = projections.map { ProjectionRunner(projection: $0, client: client, configuration: configuration, logger: logger) }
            let group = ServiceGroup(
                configuration: .init(
                    // Shut down in reverse: the runners hand back their connections before the client drains.
                    services: [.init(service: client)] + runners.map { .init(service: $0) },
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per projection: checkpoint, head, lag in events and seconds, leader, dead letters."
        )

        @OptionGroup var options: DatabaseOptions

        @Flag(name: .long, help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            options.bootstrapLogging()
            let logger = Logger(label: "projections")
            let client = try await options.connect(poolSize: 1, logger: logger)
            let statuses: [ProjectionStatus]
            do {
                statuses = try await ProjectionStatus.load(CatalogProjections.all, client: client)
            } catch {
                try DatabaseOptions.exitIfUnreachable(error, logger: logger)
                throw error
            }
            await client.shutdown()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(["projections": statuses]), as: UTF8.self))
            } else {
                print(StatusTable.render(statuses), terminator: "")
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild a projection into shadow tables while it stays live, catch up, swap atomically, drop the old tables."
        )

        @OptionGroup var options: DatabaseOptions

        @Argument(help: "The projection to rebuild.")
        var name: String

        @Option(name: .long, help: "Events per batch.")
        var batchSize = 2000

        @Option(name: .long, help: "What to do with an event the projection cannot apply: halt (default: the replay fails) or skip.")
        var onPoison = "halt"

        func run() async throws {
            options.bootstrapLogging()
            let logger = Logger(label: "projections")
            let projection = try findProjection(name)
            guard (1...100_000).contains(batchSize) else { throw ValidationError("--batch-size takes 1 to 100000") }
            guard let policy = PoisonPolicy(rawValue: onPoison) else { throw ValidationError("--on-poison takes halt or skip") }
            // Two connections: one applies a batch while the other reads the next.
            let client = try await options.connect(poolSize: 2, queryTimeout: .seconds(600), logger: logger)
            let rebuild = Rebuild(projection: projection, client: client, batchSize: batchSize, onPoison: policy, logger: logger)
            let report = try await withProgress("replay", of: projection, client: client, logger: logger) { try await rebuild.replay(progress: $0) }
            let seconds = report.elapsed.inSeconds
            print(
                "replayed \(projection.name): \(report.events) events in \(String(format: "%.1f", seconds)) s"
                    + " (\(Int(Double(report.events) / max(seconds, 0.001))) events/s), checkpoint \(report.checkpoint)"
                    + (report.skipped > 0 ? ", \(report.skipped) skipped as dead letters" : "")
            )
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild a projection aside and compare it with the live tables: exit 0 equal, 1 different."
        )

        @OptionGroup var options: DatabaseOptions

        @Argument(help: "The projection to verify.")
        var name: String

        @Option(name: .long, help: "How many differences to print at most.")
        var limit = 10

        func run() async throws {
            options.bootstrapLogging()
            let logger = Logger(label: "projections")
            let projection = try findProjection(name)
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit takes 1 to 10000") }
            let client = try await options.connect(poolSize: 1, queryTimeout: .seconds(600), logger: logger)
            let rebuild = Rebuild(projection: projection, client: client, logger: logger)
            let report = try await withProgress("verify", of: projection, client: client, logger: logger) {
                try await rebuild.verify(limit: limit, progress: $0)
            }
            if report.equal {
                print("\(projection.name): equal (rebuilt from \(report.events) events up to checkpoint \(report.checkpoint))")
                return
            }
            print("\(projection.name): \(report.differenceCount) rows differ (checkpoint \(report.checkpoint)); first differences:")
            for difference in report.differences { print("  \(difference)") }
            throw ExitCode(1)
        }
    }
}
