import Domain
import EventStore
import HTTPEdge
import Hummingbird
import Logging
import Postgres
import Prometheus
import Redis
import ViewCache

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
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: ProblemMiddleware(metrics: metrics.http))
    var redisClient: RedisClient?
    var fences: (any FenceDelivery)?
    if let url = settings.redis {
        var configuration = try RedisClient.Configuration(url: url)
        configuration.poolSize = settings.poolSize
        // A fence that Redis does not take at once must not hold the command's answer for long.
        configuration.connectTimeout = .milliseconds(250)
        configuration.commandTimeout = .milliseconds(250)
        configuration.checkoutTimeout = .milliseconds(250)
        let client = try RedisClient(configuration: configuration, logger: logger)
        redisClient = client
        fences = DirectFences(cache: ViewCache(client: client, configuration: settings.cache, logger: logger), logger: logger)
    }
    CommandRoutes(service: CommandService(store: EventStore(client: postgres), metrics: metrics, fences: fences)).add(to: router)
    OperationalRoutes(postgres: postgres, metrics: metrics).add(to: router)
    for (path, methods) in routeTable {
        router.refuseOtherMethods(RouterPath(path), allowed: methods)
    }
    return Application(
        router: router,
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "command-api"),
        services: [postgres] + (redisClient.map { [$0] } ?? []),
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
