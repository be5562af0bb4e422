import Postgres
import Prometheus

/// The command service's metrics, created once with a small fixed set of labels.
struct CommandMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    static let commandNames = ["CreateAlbum", "ChangeAlbumDetails", "AddSong", "ChangeSongDetails", "RemoveSong", "ReorderTracks", "ArchiveAlbum"]
    static let buckets: [Duration] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500].map { .milliseconds($0) }

    func record(command: String, outcome: String, duration: Duration) {
        registry.makeCounter(
            descriptor: .init(metricName: "catalog_commands", unitName: "total", helpText: "Commands handled, by type and outcome"),
            labels: [("type", command), ("outcome", outcome)]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: .init(metricName: "catalog_command_duration", unitName: "seconds", helpText: "Time to handle a command"),
            labels: [("type", command)],
            buckets: Self.buckets
        ).record(duration)
    }

    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        registry.makeCounter(
            descriptor: .init(metricName: "http_requests", unitName: "total", helpText: "HTTP requests, by route and status"),
            labels: [("method", method), ("route", route), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: .init(metricName: "http_request_duration", unitName: "seconds", helpText: "HTTP request latency"),
            labels: [("method", method), ("route", route)],
            buckets: Self.buckets
        ).record(duration)
    }

    func recordPool(_ statistics: PoolStatistics) {
        for (state, value) in [("leased", statistics.leased), ("idle", statistics.idle), ("waiting", statistics.waiting)] {
            registry.makeGauge(
                descriptor: .init(metricName: "catalog_postgres_pool_connections", helpText: "Primary pool connections by state"),
                labels: [("state", state)]
            ).set(Double(value))
        }
    }
}

typealias PoolStatistics = (leased: Int, idle: Int, waiting: Int)
