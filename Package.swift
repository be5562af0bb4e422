// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "album-catalog",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "catalog-migrate", targets: ["MigrateTool"]),
        .executable(name: "command-api", targets: ["CommandAPI"]),
        .executable(name: "projections", targets: ["ProjectionsTool"]),
        .executable(name: "query-api", targets: ["QueryAPI"]),
        .executable(name: "catalog-seed", targets: ["CatalogSeed"]),
        .executable(name: "bench-bare-http", targets: ["BenchBareHTTP"]),
        .executable(name: "bench-postgres-client", targets: ["BenchPostgresClient"]),
        .library(name: "Postgres", targets: ["Postgres"]),
        .library(name: "Redis", targets: ["Redis"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // The hashes (SHA-256, SHA-1). Already built for Hummingbird (swift-nio-extras, swift-certificates).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // NIOHTTPTypes (HTTP parts as swift-http-types), which Hummingbird is built on already.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // TLS to Redis (rediss://) and, for the HTTP services, HummingbirdTLS's (BoringSSL).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // C libraries from Debian: apt-get install libpq-dev libhiredis-dev
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),

        // Test-only fault points: which ones CATALOG_TEST_FAULT switches on, and the services' refusal to
        // start with them unless CATALOG_ALLOW_TEST_FAULTS=1.
        .target(name: "TestFaults", dependencies: [.product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "TestFaultsTests",
            dependencies: [
                "TestFaults", "ClusterHarness", "CatalogCore", "Domain", "EventLog", "Postgres", "Redis", "HotViews",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),

        // What the write side and the read side share: album and song ids, the consistency token.
        .target(name: "CatalogCore"),
        .testTarget(name: "CatalogCoreTests", dependencies: ["CatalogCore"]),

        // The catalog's rules: aggregate, commands, events. Foundation and CatalogCore only.
        .target(name: "Domain", dependencies: ["CatalogCore"]),
        .testTarget(name: "DomainTests", dependencies: ["Domain", "CatalogCore"]),

        // Linux's epoll, which Glibc's Swift module leaves out.
        .systemLibrary(name: "CEpoll"),
        // Pool state machine, the pool, and the socket waiter of the Postgres client's exclusive connections.
        .target(name: "ConnectionPool", dependencies: ["CEpoll"]),
        .target(
            name: "Postgres",
            dependencies: [
                "CEpoll",
                "CLibPQ",
                "ConnectionPool",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Redis",
            dependencies: [
                "CHiredis",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // The album event log on the primary: its schema, append, reads in commit-safe order, its own errors.
        .target(
            name: "EventLog",
            dependencies: [
                "CatalogCore", "Domain", "Postgres", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "EventLogTests", dependencies: ["EventLog", "CatalogCore", "ClusterHarness"]),

        // The read model on the primary and the replicas: its schema, and the repository of query-api's reads
        // (every read statement, its rows' decoding, its failures as ReadModelError), routed by ReplicaRouting.
        .target(
            name: "ReadModel",
            dependencies: [
                "CatalogCore", "Domain", "Postgres", "ReplicaRouting", .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "ReadModelTests", dependencies: ["ReadModel", "Postgres"]),
        // What the command-line executables share: argument parsing with the catalog's exit codes.
        .target(
            name: "CatalogCLI",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "MigrateTool",
            dependencies: [
                "CatalogCLI", "EventLog", "Postgres", "ReadModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Read models built from the event log: the projector engine, checkpoints, leadership, replay, verify.
        .target(
            name: "Projections",
            dependencies: [
                "CatalogCore", "Domain", "EventLog", "Postgres", "ReadModel", "TestFaults",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "ProjectionsTests", dependencies: ["Projections", "CatalogCore", "EventLog", "ReadModel", "ClusterHarness"]),
        .executableTarget(
            name: "ProjectionsTool",
            dependencies: [
                "CatalogCLI", "EventLog", "Postgres", "Projections", "TestFaults",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Node health, lag, and the choice of a replica for each read (used by query-api).
        .target(
            name: "ReplicaRouting",
            dependencies: [
                "CatalogCore", "Postgres", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "ReplicaRoutingTests", dependencies: ["ReplicaRouting", "CatalogCore", "Projections", "ClusterHarness"]),

        // The read side's HTTP service.
        .executableTarget(
            name: "QueryAPI",
            dependencies: [
                "Authentication", "CatalogCLI", "CatalogCore", "Domain", "HTTPEdge", "HotViews", "Postgres", "ReadModel", "Redis", "ReplicaRouting",
                "TestFaults",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "QueryAPITests",
            dependencies: [
                "Authentication", "QueryAPI", "CatalogCore", "EventLog", "Projections", "ClusterHarness", "HTTPEdge", "HotViews", "ReadModel",
                "Redis",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),

        // Generated albums through the Domain and the event store, for benchmarks and demos.
        .executableTarget(
            name: "CatalogSeed",
            dependencies: [
                "CatalogCLI", "CatalogCore", "Domain", "EventLog", "Postgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // bench/reads' baseline: a bare Hummingbird server answering query-api's bytes for GET /albums/:id.
        .executableTarget(
            name: "BenchBareHTTP",
            dependencies: [
                "HTTPEdge",
                "Postgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        // bench/reads' client-only figure: the pipelined reads without HTTP, beside pgbench.
        .executableTarget(
            name: "BenchPostgresClient",
            dependencies: [
                "Postgres",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        // Hot album views in Redis: fenced fills, fences, single-flight, a circuit breaker.
        .target(
            name: "HotViews",
            dependencies: [
                "CatalogCore", "Redis", "TestFaults", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "HotViewsTests", dependencies: ["HotViews", "CatalogCore", "ClusterHarness"]),

        // The command side's SQLite outbox of cache fences (GRDB), and its relay to Redis.
        .target(
            name: "FenceOutbox",
            dependencies: [
                "HotViews", "TestFaults", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "FenceOutboxTests", dependencies: ["FenceOutbox", "ClusterHarness", "HotViews", "Redis"]),

        // What both HTTP services share at their edge: problem+json errors, request ids, request metrics, 405s.
        .target(
            name: "Authentication",
            dependencies: [
                "HTTPEdge",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ]
        ),
        .target(
            name: "HTTPEdge",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        // The write side's HTTP service.
        .executableTarget(
            name: "CommandAPI",
            dependencies: [
                "Authentication", "CatalogCLI", "CatalogCore", "Domain", "EventLog", "FenceOutbox", "HTTPEdge", "HotViews", "Postgres", "Redis",
                "TestFaults",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(
            name: "CommandAPITests",
            dependencies: [
                "Authentication", "CommandAPI", "CatalogCore", "ClusterHarness", "EventLog", "FenceOutbox", "HotViews", "Redis",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Test support: drives infra/cluster and reads its configuration.
        .target(
            name: "ClusterHarness",
            dependencies: ["EventLog", "Postgres", "ReadModel", .product(name: "Crypto", package: "swift-crypto")],
            path: "Tests/ClusterHarness"
        ),
        // The module graph of docs/architecture.md, checked against the sources and this file.
        .testTarget(name: "CatalogCLITests", dependencies: ["CatalogCLI", "Postgres"]),
        .testTarget(
            name: "HTTPEdgeTests",
            dependencies: [
                "HTTPEdge",
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "ArchitectureTests"),
        .testTarget(name: "ConnectionPoolTests", dependencies: ["ConnectionPool"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "ClusterHarness"]),
        .testTarget(
            name: "RedisTests",
            dependencies: [
                "Redis", "ClusterHarness", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "ClusterTests", dependencies: ["Postgres", "Redis", "ClusterHarness"]),
    ],
    swiftLanguageModes: [.v6]
)

// Every async function of ours runs on its caller's executor unless it says @concurrent (SE-0461): a
// nonisolated async call is no longer a trip through the event loop's job queue.
for target in package.targets where target.type != .system && target.type != .binary && target.type != .plugin {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
}
