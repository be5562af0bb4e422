import ArgumentParser
import CatalogCLI
import EventLog
import Foundation
import Logging
import Postgres
import ReadModel

/// `catalog-migrate`: applies the catalog's pending migrations on the primary (the event log's, then the
/// read model's), as the schema owner.
/// Safe to run from several places at once.
@main
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog-migrate",
        abstract: "Apply the catalog's pending schema migrations on the primary.",
        discussion: """
            Environment:
              CATALOG_MIGRATOR_PRIMARY   libpq conninfo of the primary for the schema owner (used when --database is not given)
              CATALOG_MIGRATOR_PRIMARY_FILE  a file holding it instead

            Exit codes: 0 applied or nothing to do, 2 usage, 3 cannot reach the database.
            """
    )

    /// ArgumentParser exits 64 on a usage error; the catalog's tools exit 2 (CONTRACT.md).
    static func main() async {
        await parseAndRun()
    }

    @Option(name: .long, help: "libpq conninfo of the primary for the schema owner (default: $CATALOG_MIGRATOR_PRIMARY).")
    var database: String?

    @Option(name: .long, help: "A file holding --database's conninfo (env CATALOG_MIGRATOR_PRIMARY_FILE).")
    var databaseFile: String?

    @Flag(
        name: .long,
        help:
            "Allow a link to the database without verified TLS, to loopback addresses only: development on one machine (env CATALOG_PLAINTEXT_LOOPBACK=1)."
    )
    var plaintextLoopback = false

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "catalog-migrate")
        let conninfo = try ServiceSetup.requiredSecret(database, file: databaseFile, flag: "--database", environment: "CATALOG_MIGRATOR_PRIMARY")
        let link = PostgresTransport(connectionString: conninfo)
        try PlaintextPolicy(flag: plaintextLoopback).check("--database", secure: link?.verifiesServer, hosts: link?.hosts ?? [])
        var configuration = PostgresClient.Configuration(connectionString: conninfo)
        configuration.poolSize = 1
        configuration.queryTimeout = .seconds(120)
        do {
            let client = try PostgresClient(configuration: configuration, logger: logger)
            let applied = try await client.migrate(EventLogSchema.migrations + ReadModelSchema.migrations, logger: logger)
            print(applied.isEmpty ? "schema is up to date" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
            await client.shutdown()
        } catch let error as PostgresError where error.code == .invalidConfiguration {
            throw ValidationError("the connection string cannot be parsed")
        } catch let error as PostgresError where error.isUnavailable || error.code == .authenticationFailed {
            logger.error("cannot reach the database", metadata: ["postgres.error": "\(error)"])
            throw ExitCode(3)
        }
    }
}
