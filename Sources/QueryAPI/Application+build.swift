import Authentication
import HTTPEdge
import HotViews
import Hummingbird
import Logging
import Postgres
import Prometheus
import ReadModel
import Redis
import ReplicaRouting
import ServiceLifecycle

/// Everything `query-api` needs to start, from flags or the environment.
struct QueryAPISettings: Sendable {
    var host = "127.0.0.1"
    var port = 8081
    /// `name=conninfo` of each replica, reader role.
    var replicas: [(name: String, conninfo: String)]
    /// conninfo of the primary, reader role (fallback).
    var primary: String
    var poolSize = 16
    var connectTimeout: Duration = .seconds(2)
    var queryTimeout: Duration = .seconds(5)
    var checkoutTimeout: Duration = .seconds(2)
    var policy = RoutingPolicy()
    var healthCheckInterval: Duration = .milliseconds(250)
    /// How long a read carrying a consistency token may wait for a node to reach it.
    var tokenBudget: Duration = .seconds(1)
    /// `redis://[:password@]host:port[/db]` of the hot views; nil runs without a cache.
    var redis: String?
    var cache = ViewCache.Configuration()
    /// Checks every album read's bearer token for `catalog:read`; nil: reads need none (`--read-auth off`).
    var verifier: TokenVerifier?
    /// Slow clients' limits (`--read-timeout`, `--idle-timeout`).
    var timeouts = ConnectionTimeouts()
    /// Whether /metrics is served (`--metrics on|off`).
    var metricsOpen = true
    /// HTTPS served by the service (`--tls-cert`, `--tls-key`); nil: plain HTTP.
    var tls: ServerTLS?
}

/// The one builder of the service, used by `query-api` and by the tests.
func buildApplication(
    _ settings: QueryAPISettings,
    logger: Logger,
    registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
) throws -> some ApplicationProtocol {
    func client(_ conninfo: String, name: String) throws -> PostgresClient {
        var configuration = PostgresClient.Configuration(connectionString: conninfo)
        configuration.poolSize = settings.poolSize
        configuration.connectTimeout = settings.connectTimeout
        configuration.queryTimeout = settings.queryTimeout
        configuration.checkoutTimeout = settings.checkoutTimeout
        configuration.applicationName = "query-api"
        var clientLogger = logger
        clientLogger[metadataKey: "node"] = "\(name)"
        return try PostgresClient(configuration: configuration, logger: clientLogger)
    }
    let replicas = try settings.replicas.map { ReplicaRouter.Replica(name: $0.name, client: try client($0.conninfo, name: $0.name)) }
    let primary = try client(settings.primary, name: ReplicaRouter.primaryName)
    let replicaRouter = ReplicaRouter(
        replicas: replicas,
        primary: primary,
        policy: settings.policy,
        checkInterval: settings.healthCheckInterval,
        logger: logger
    )
    var redisClient: RedisClient?
    var cache: ViewCache?
    if let url = settings.redis {
        var configuration = try RedisClient.Configuration(url: url)
        // The cache must never make a read slow: a Redis that does not answer at once is skipped.
        configuration.connectTimeout = .milliseconds(250)
        configuration.commandTimeout = .milliseconds(250)
        var redisLogger = logger
        redisLogger[metadataKey: "node"] = "redis"
        let client = try RedisClient(configuration: configuration, logger: redisLogger)
        redisClient = client
        cache = ViewCache(client: client, configuration: settings.cache, logger: logger)
    }
    let metrics = HTTPMetrics(registry: registry)
    let router = Router(context: CatalogRequestContext.self)
    router.add(middleware: EdgeMiddleware(metrics: metrics))
    // With --read-auth required, album reads need a token with catalog:read; health, metrics and the
    // OpenAPI document stay open.
    let albums = router.group()
    if let verifier = settings.verifier { albums.add(middleware: BearerAuthMiddleware(verifier: verifier, scope: Scopes.read)) }
    AlbumRoutes(reads: AlbumReads(replicas: replicaRouter, tokenBudget: settings.tokenBudget), cache: cache).add(to: albums)
    QueryOperationalRoutes(replicas: replicaRouter, cache: cache, metrics: metrics, metricsOpen: settings.metricsOpen).add(to: router)
    for (path, methods) in routeTable {
        router.refuseOtherMethods(RouterPath(path), allowed: methods)
    }
    // Clients first: services shut down in reverse, so the health checks stop before the pools drain.
    let services: [any Service] = (redisClient.map { [$0] } ?? []) + [primary] + replicas.map(\.client) + [replicaRouter]
    return Application(
        router: router,
        server: try .catalog(timeouts: settings.timeouts, tls: settings.tls),
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "query-api"),
        services: services,
        logger: logger
    )
}

/// Every path the service answers and its methods.
let routeTable: [(String, [HTTPRequest.Method])] = [
    ("/albums", [.get]),
    ("/albums/:id", [.get]),
    ("/albums/:id/history", [.get]),
    ("/health/live", [.get]),
    ("/health/ready", [.get]),
    ("/metrics", [.get]),
    ("/openapi.json", [.get]),
]
