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
import ReplicaRouting
import TestFaults

/// `query-api`: the read service. Reads come from caught-up replicas, else the primary.
@main
struct QueryAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query-api",
        abstract: "The album catalog's read service: answers from healthy, caught-up replicas, with read-your-writes tokens.",
        discussion: """
            Environment (used when the flag is not given):
              CATALOG_REPLICAS        comma-separated name=conninfo entries of the replicas, reader role
              CATALOG_QUERY_PRIMARY   conninfo of the primary, reader role (fallback)
              CATALOG_REPLICAS_FILE, CATALOG_QUERY_PRIMARY_FILE, CATALOG_QUERY_REDIS_FILE, CATALOG_REDIS_FILE
                                      files holding those instead (secrets out of the environment)
              CATALOG_QUERY_REDIS     redis://[user:password@]host:port[/db] of the hot views, as query-api's Redis
                                      user (else CATALOG_REDIS; neither: no cache)
              CATALOG_QUERY_ADDR      host:port to listen on (default 127.0.0.1:8081)
              CATALOG_READ_AUTH       off (default: a public catalog) or required: album reads need a bearer token
                                      with catalog:read
              CATALOG_AUTH_KEYS       JWKS file of the public keys (Ed25519 or P-256, each with a kid) that sign tokens
              CATALOG_AUTH_ISSUER     the iss every token must have
              CATALOG_AUTH_AUDIENCE   the aud every token must name
              CATALOG_HTTP_READ_TIMEOUT, CATALOG_HTTP_IDLE_TIMEOUT
                                      seconds a request may take to arrive (default 10), a connection may idle (60)
              CATALOG_METRICS         on (default) or off: whether GET /metrics is served
              LOG_LEVEL               trace, debug, info (default), notice, warning, error, critical
              CATALOG_TEST_FAULT      tests only: fault points that break a guarantee on purpose; refused to start
                                      unless CATALOG_ALLOW_TEST_FAULTS=1 (README: Test fault points)
            """
    )

    @Option(name: .long, help: "host:port to listen on (env CATALOG_QUERY_ADDR, default 127.0.0.1:8081).")
    var address: String?

    @Option(name: .long, help: "Replicas as comma-separated name=conninfo entries (env CATALOG_REPLICAS).")
    var replicas: String?

    @Option(name: .long, help: "A file holding --replicas (env CATALOG_REPLICAS_FILE).")
    var replicasFile: String?

    @Option(name: .long, help: "conninfo of the primary for the reader role (env CATALOG_QUERY_PRIMARY).")
    var primary: String?

    @Option(name: .long, help: "A file holding --primary's conninfo (env CATALOG_QUERY_PRIMARY_FILE).")
    var primaryFile: String?

    @Option(
        name: .long,
        help: "redis://[user:password@]host:port[/db] of the hot views (env CATALOG_QUERY_REDIS, else CATALOG_REDIS; none: no cache)."
    )
    var redis: String?

    @Option(name: .long, help: "A file holding --redis's URL (env CATALOG_QUERY_REDIS_FILE, else CATALOG_REDIS_FILE).")
    var redisFile: String?

    @Option(name: .long, help: "Connections per node at most.")
    var poolSize = 16

    @Option(name: .long, help: "A replica further behind than this many seconds takes no reads.")
    var maxLagSeconds = 1.0

    @Option(name: .long, help: "A replica further behind than this many bytes of WAL takes no reads.")
    var maxLagBytes = 16 << 20

    @Option(name: .long, help: "Read from the primary when no replica is usable: on (default) or off.")
    var primaryFallback = "on"

    @Option(name: .long, help: "Reads the primary serves at once as a fallback; beyond it, 503.")
    var primaryLimit = 16

    @Option(name: .long, help: "Milliseconds between health checks of each node.")
    var healthInterval = 250

    @Option(name: .long, help: "Milliseconds a read with a Consistency-Token may wait for a node to reach it.")
    var tokenBudget = 1000

    @Option(
        name: .long,
        help: "off or required: whether album reads need a bearer token with catalog:read (env CATALOG_READ_AUTH, default off: a public catalog)."
    )
    var readAuth: String?

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
        TestFaults.checkAtStartup(service: "query-api", here: FaultPoints.here, logger: Logger(label: "query-api"))
        let registry = HTTPMetrics.bootstrapRegistry()

        let primary = try ServiceSetup.requiredSecret(primary, file: primaryFile, flag: "--primary", environment: "CATALOG_QUERY_PRIMARY")
        let replicaList = try Self.parseReplicas(
            try ServiceSetup.secret(replicas, file: replicasFile, flag: "--replicas", environment: "CATALOG_REPLICAS") ?? ""
        )
        guard (1...1000).contains(poolSize), (1...1000).contains(primaryLimit), (10...60_000).contains(healthInterval),
            (0...60_000).contains(tokenBudget), maxLagSeconds > 0, maxLagBytes > 0
        else {
            throw ValidationError("--pool-size and --primary-limit take 1 to 1000, --health-interval 10 to 60000, --token-budget 0 to 60000")
        }
        guard ["on", "off"].contains(primaryFallback) else { throw ValidationError("--primary-fallback takes on or off") }
        let policy = PlaintextPolicy(flag: plaintextLoopback)
        for (setting, conninfo) in [("--primary", primary)] + replicaList.map({ ("--replicas (\($0.name))", $0.conninfo) }) {
            let link = PostgresTransport(connectionString: conninfo)
            try policy.check(setting, secure: link?.verifiesServer, hosts: link?.hosts ?? [])
        }
        var settings = QueryAPISettings(replicas: replicaList, primary: primary)
        (settings.host, settings.port) = try ServiceSetup.parseAddress(address ?? environment["CATALOG_QUERY_ADDR"] ?? "127.0.0.1:8081")
        settings.poolSize = poolSize
        settings.policy.maxLagSeconds = maxLagSeconds
        settings.policy.maxLagBytes = Int64(maxLagBytes)
        settings.policy.primaryFallback = primaryFallback == "on"
        settings.policy.primaryConcurrencyLimit = primaryLimit
        settings.healthCheckInterval = .milliseconds(healthInterval)
        settings.tokenBudget = .milliseconds(tokenBudget)
        settings.timeouts = try server.timeouts()
        settings.metricsOpen = try server.metricsOpen()
        settings.tls = try server.tls()
        // Its own Redis user first (least privilege: views and the fill script only), else the shared URL.
        settings.redis =
            try ServiceSetup.secret(redis, file: redisFile, flag: "--redis", environment: "CATALOG_QUERY_REDIS")
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
        settings.verifier = try await auth.verifier(
            mode: readAuth ?? environment["CATALOG_READ_AUTH"] ?? "off",
            modeFlag: "--read-auth",
            host: settings.host,
            offOnLoopbackOnly: false
        )
        let logger = Logger(label: "query-api")
        if let verifier = settings.verifier {
            logger.info(
                "album reads need a bearer token",
                metadata: ["auth.scope": "\(Scopes.read)", "auth.kids": "\(verifier.keyIDs.joined(separator: ","))"]
            )
        }
        let app = try buildApplication(settings, logger: logger, registry: registry)
        try await app.runService()
    }

    static func parseReplicas(_ text: String) throws -> [(name: String, conninfo: String)] {
        try text.split(separator: ",").map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ValidationError("replicas are name=conninfo entries separated by commas")
            }
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// ArgumentParser exits 64 on a usage error; the catalog's tools exit 2 (CONTRACT.md).
    static func main() async {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await parseAndRun()
    }
}
