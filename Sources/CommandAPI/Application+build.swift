import Authentication
import Domain
import EventLog
import FenceOutbox
import HTTPEdge
import HotViews
import Hummingbird
import Logging
import Postgres
import Prometheus
import Redis
import ServiceLifecycle

/// Everything `command-api` needs to start, from flags or the environment.
struct CommandAPISettings: Sendable {
    var host = "127.0.0.1"
    var port = 8080
    var primary: String
    var poolSize = 16
    var connectTimeout: Duration = .seconds(3)
    var queryTimeout: Duration = .seconds(5)
    var checkoutTimeout: Duration = .seconds(5)
    /// `redis://[:password@]host:port[/db]` where committed commands raise their albums' fences; nil: none.
    var redis: String?
    var cache = ViewCache.Configuration()
    /// The SQLite outbox of the fences (used with `redis`).
    var outboxPath = "catalog-outbox.sqlite"
    var relay = OutboxRelay.Configuration()
    /// Checks every command's bearer token for `catalog:write`; nil: commands need none (`--write-auth off`).
    var verifier: TokenVerifier?
    /// Slow clients' limits (`--read-timeout`, `--idle-timeout`).
    var timeouts = ConnectionTimeouts()
    /// Whether /metrics is served (`--metrics on|off`).
    var metricsOpen = true
    /// HTTPS served by the service (`--tls-cert`, `--tls-key`); nil: plain HTTP.
    var tls: ServerTLS?
}

/// The one builder of the service, used by `command-api` and by the tests.
func buildApplication(
    _ settings: CommandAPISettings,
    logger: Logger,
    registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
) throws -> some ApplicationProtocol {
    var database = PostgresClient.Configuration(connectionString: settings.primary)
    database.poolSize = settings.poolSize
    database.connectTimeout = settings.connectTimeout
    database.queryTimeout = settings.queryTimeout
    database.checkoutTimeout = settings.checkoutTimeout
    database.applicationName = "command-api"
    let postgres = try PostgresClient(configuration: database, logger: logger)

    let metrics = CommandMetrics(registry: registry)
    let router = Router(context: CatalogRequestContext.self)
    router.add(middleware: EdgeMiddleware(metrics: metrics.http))
    // Commands need a token with catalog:write; health, metrics and the OpenAPI document stay open.
    let commands = router.group()
    if let verifier = settings.verifier { commands.add(middleware: BearerAuthMiddleware(verifier: verifier, scope: Scopes.write)) }
    var services: [any Service] = [postgres]
    let store = EventStore(client: postgres)
    var outbox: Outbox?
    if let url = settings.redis {
        var configuration = try RedisClient.Configuration(url: url)
        configuration.connectTimeout = .milliseconds(500)
        configuration.commandTimeout = .seconds(2)
        var redisLogger = logger
        redisLogger[metadataKey: "node"] = "redis"
        let redis = try RedisClient(configuration: configuration, logger: redisLogger)
        let opened = try Outbox(path: settings.outboxPath, logger: logger)
        let relay = OutboxRelay(
            outbox: opened,
            cache: ViewCache(client: redis, configuration: settings.cache, logger: logger),
            configuration: settings.relay,
            logger: logger
        ) { album in
            try await store.version(of: album)
        }
        outbox = opened
        // Shut down in reverse: the relay delivers what it can, then the clients close.
        services += [redis, relay]
    }
    CommandRoutes(service: CommandService(store: store, metrics: metrics, outbox: outbox)).add(to: commands)
    OperationalRoutes(store: store, outbox: outbox, metrics: metrics, metricsOpen: settings.metricsOpen).add(to: router)
    for (path, methods) in routeTable {
        router.refuseOtherMethods(RouterPath(path), allowed: methods)
    }
    return Application(
        router: router,
        server: try .catalog(timeouts: settings.timeouts, tls: settings.tls),
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "command-api"),
        services: services,
        logger: logger
    )
}

/// Every path the service answers and its methods; the OpenAPI document is tested against this.
let routeTable: [(String, [HTTPRequest.Method])] = [
    ("/albums", [.post]),
    ("/albums/:id", [.patch, .delete]),
    ("/albums/:id/songs", [.post]),
    ("/albums/:id/songs/:songId", [.patch, .delete]),
    ("/albums/:id/track-order", [.put]),
    ("/health/live", [.get]),
    ("/health/ready", [.get]),
    ("/metrics", [.get]),
    ("/openapi.json", [.get]),
]
