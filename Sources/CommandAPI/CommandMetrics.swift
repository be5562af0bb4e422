import Postgres
import Prometheus
import Synchronization

/// The command service's metrics, with a small fixed set of labels. Each series is made once and kept,
/// so a request only increments and records: no registry lookup, no label arrays built per request.
struct CommandMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let series: Series

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.series = Series()
    }

    static let buckets: [Duration] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500].map { .milliseconds($0) }

    func record(command: String, outcome: String, duration: Duration) {
        series.counter("commands|\(command)|\(outcome)") {
            registry.makeCounter(
                descriptor: .init(metricName: "catalog_commands", unitName: "total", helpText: "Commands handled, by type and outcome"),
                labels: [("type", command), ("outcome", outcome)]
            )
        }.increment()
        series.histogram("command|\(command)") {
            registry.makeDurationHistogram(
                descriptor: .init(metricName: "catalog_command_duration", unitName: "seconds", helpText: "Time to handle a command"),
                labels: [("type", command)],
                buckets: Self.buckets
            )
        }.record(duration)
    }

    /// `route` is the matched route pattern (or "unmatched"), never the raw path, so the label set stays small.
    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        series.counter("requests|\(method)|\(route)|\(status)") {
            registry.makeCounter(
                descriptor: .init(metricName: "http_requests", unitName: "total", helpText: "HTTP requests, by route and status"),
                labels: [("method", method), ("route", route), ("status", String(status))]
            )
        }.increment()
        series.histogram("request|\(method)|\(route)") {
            registry.makeDurationHistogram(
                descriptor: .init(metricName: "http_request_duration", unitName: "seconds", helpText: "HTTP request latency"),
                labels: [("method", method), ("route", route)],
                buckets: Self.buckets
            )
        }.record(duration)
    }

    func recordPool(_ statistics: PoolStatistics) {
        for (state, value) in [("leased", statistics.leased), ("idle", statistics.idle), ("waiting", statistics.waiting)] {
            registry.makeGauge(
                descriptor: .init(metricName: "catalog_postgres_pool_connections", helpText: "Primary pool connections by state"),
                labels: [("state", state)]
            ).set(Double(value))
        }
    }

    /// The series made so far, by name and labels.
    private final class Series: Sendable {
        private let counters = Mutex<[String: Counter]>([:])
        private let histograms = Mutex<[String: DurationHistogram]>([:])

        func counter(_ key: String, make: () -> Counter) -> Counter {
            counters.withLock { counters in
                if let counter = counters[key] { return counter }
                let counter = make()
                counters[key] = counter
                return counter
            }
        }

        func histogram(_ key: String, make: () -> DurationHistogram) -> DurationHistogram {
            histograms.withLock { histograms in
                if let histogram = histograms[key] { return histogram }
                let histogram = make()
                histograms[key] = histogram
                return histogram
            }
        }
    }
}

typealias PoolStatistics = (leased: Int, idle: Int, waiting: Int)
