import ArgumentParser
import Authentication
import CatalogCLI
import Foundation
import HTTPEdge
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOPosix
import Postgres
import Prometheus
import Redis
import TestFaults

/// `command-api`: the write side's HTTP service. Flags first, then the environment.
@main
struct CommandAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "command-api",
        abstract: "The album catalog's write service: commands become events on the PostgreSQL primary.",
        discussion: """
            Environment (used when the flag is not given):
              CATALOG_COMMAND_ADDR   host:port to listen on (default 127.0.0.1:8080)
              CATALOG_PRIMARY        libpq conninfo of the primary for the writer role; may list several hosts
              CATALOG_COMMAND_REDIS  redis://[user:password@]host:port[/db] for the cache fences, as command-api's
                                     Redis user (else CATALOG_REDIS; neither: no fences)
              CATALOG_PRIMARY_FILE, CATALOG_COMMAND_REDIS_FILE, CATALOG_REDIS_FILE
                                     files holding those two instead (secrets out of the environment)
              CATALOG_OUTBOX_PATH    SQLite file of the fences' outbox (default catalog-outbox.sqlite)
              CATALOG_WRITE_AUTH     required (default): every command needs a bearer token with catalog:write;
                                     off: none (a loopback address only)
              CATALOG_AUTH_KEYS      JWKS file of the public keys (Ed25519 or P-256, each with a kid) that sign tokens
              CATALOG_AUTH_ISSUER    the iss every token must have
              CATALOG_AUTH_AUDIENCE  the aud every token must name
              CATALOG_HTTP_READ_TIMEOUT, CATALOG_HTTP_IDLE_TIMEOUT
                                     seconds a request may take to arrive (default 10), a connection may idle (60)
              CATALOG_METRICS        on (default) or off: whether GET /metrics is served
              LOG_LEVEL              trace, debug, info, notice, warning, error or critical (default info)
              CATALOG_TEST_FAULT     tests only: fault points that break a guarantee on purpose; refused to start
                                     unless CATALOG_ALLOW_TEST_FAULTS=1 (README: Test fault points)
            """
    )

    @Option(name: .long, help: "host:port to listen on (env CATALOG_COMMAND_ADDR, default 127.0.0.1:8080).")
    var address: String?

    @Option(name: .long, help: "libpq conninfo of the primary for the writer role (env CATALOG_PRIMARY).")
    var primary: String?

    @Option(name: .long, help: "A file holding --primary's conninfo, so that its password is on no command line (env CATALOG_PRIMARY_FILE).")
    var primaryFile: String?

    @Option(name: .long, help: "Connections to the primary at most.")
    var poolSize: Int = 16

    @Option(name: .long, help: "Seconds a statement may take before it is cancelled and the command answered 503.")
    var queryTimeout: Int = 5

    @Option(
        name: .long,
        help:
            "redis://[user:password@]host:port[/db] where commands raise their albums' cache fences (env CATALOG_COMMAND_REDIS, else CATALOG_REDIS)."
    )
    var redis: String?

    @Option(name: .long, help: "A file holding --redis's URL (env CATALOG_COMMAND_REDIS_FILE, else CATALOG_REDIS_FILE).")
    var redisFile: String?

    @Option(name: .long, help: "SQLite file of the fences' outbox (env CATALOG_OUTBOX_PATH, default catalog-outbox.sqlite).")
    var outbox: String?

    @Option(
        name: .long,
        help:
            "required or off: whether every command needs a bearer token with catalog:write (env CATALOG_WRITE_AUTH, default required; off on a loopback address only)."
    )
    var writeAuth: String?

    @OptionGroup var auth: AuthOptions

    @OptionGroup var server: ServerOptions

    @Flag(
        name: .long,
        help:
            "Allow links to the database and Redis without verified TLS, to loopback addresses only: development on one machine (env CATALOG_PLAINTEXT_LOOPBACK=1)."
    )
    var plaintextLoopback = false

    @Option(name: .long, help: "Log level (env LOG_LEVEL, default info).")
    var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        ServiceSetup.bootstrapLogging(level: logLevel)
        TestFaults.checkAtStartup(service: "command-api", here: FaultPoints.here, logger: Logger(label: "command-api"))
        let registry = HTTPMetrics.bootstrapRegistry()

        let primary = try ServiceSetup.requiredSecret(primary, file: primaryFile, flag: "--primary", environment: "CATALOG_PRIMARY")
        let (host, port) = try ServiceSetup.parseAddress(address ?? environment["CATALOG_COMMAND_ADDR"] ?? "127.0.0.1:8080")
        guard (1...1000).contains(poolSize), (1...3600).contains(queryTimeout) else {
            throw ValidationError("--pool-size takes 1 to 1000, --query-timeout 1 to 3600")
        }
        let policy = PlaintextPolicy(flag: plaintextLoopback)
        let link = PostgresTransport(connectionString: primary)
        try policy.check("--primary", secure: link?.verifiesServer, hosts: link?.hosts ?? [])
        var settings = CommandAPISettings(primary: primary)
        settings.host = host
        settings.port = port
        settings.poolSize = poolSize
        settings.queryTimeout = .seconds(queryTimeout)
        // Its own Redis user first (least privilege: the fence script only), else the shared URL.
        settings.redis =
            try ServiceSetup.secret(redis, file: redisFile, flag: "--redis", environment: "CATALOG_COMMAND_REDIS")
            ?? ServiceSetup.secret(nil, file: nil, flag: "--redis", environment: "CATALOG_REDIS")
        if let url = settings.redis {
            let redis: RedisClient.Configuration
            do {
                redis = try RedisClient.Configuration(url: url)
            } catch {
                throw ValidationError("--redis: \(error)")
            }
            try policy.check("--redis", secure: redis.tls != nil, hosts: [redis.host])
        }
        settings.outboxPath = outbox ?? environment["CATALOG_OUTBOX_PATH"] ?? settings.outboxPath
        settings.timeouts = try server.timeouts()
        settings.metricsOpen = try server.metricsOpen()
        settings.tls = try server.tls()
        settings.verifier = try await auth.verifier(
            mode: writeAuth ?? environment["CATALOG_WRITE_AUTH"] ?? "required",
            modeFlag: "--write-auth",
            host: host,
            offOnLoopbackOnly: true
        )
        let logger = Logger(label: "command-api")
        if let verifier = settings.verifier {
            logger.info(
                "commands need a bearer token",
                metadata: ["auth.scope": "\(Scopes.write)", "auth.kids": "\(verifier.keyIDs.joined(separator: ","))"]
            )
        } else {
            logger.warning("commands need no token (--write-auth off): anyone who reaches this address can change the catalog")
        }
        let app = try buildApplication(settings, logger: logger, registry: registry)
        try await app.runService()
    }

    /// ArgumentParser exits 64 on a usage error; the catalog's tools exit 2 (CONTRACT.md).
    static func main() async {
        // Swift concurrency's jobs run on NIO's event loops, saving a thread switch on every request's I/O.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await parseAndRun()
    }
}
