import CoreMetrics
import HTTPTypes
import Metrics
import Prometheus
import Synchronization

/// HTTP request metrics and pool gauges every catalog service exposes, with a small fixed set of labels.
/// Every series is made through swift-metrics' API; Prometheus is only its backend (`factory`, on this
/// service's own registry, which /metrics renders). A factory per registry rather than the process-wide
/// `MetricsSystem` keeps each application's series its own (tests run several in one process).
public struct HTTPMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory
    public let series = MetricSeries()
    let requestSeries = RequestSeries()

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.buckets
        self.factory = factory
    }

    public static let buckets: [Duration] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500].map { .milliseconds($0) }

    /// `route` is the matched route pattern (or "unmatched"), never the raw path, so the label set stays small.
    /// The series of a (method, route, status) are made once; a request then takes one lock for one
    /// dictionary lookup, without building a key string.
    public func recordRequest(method: HTTPRequest.Method, route: String, status: Int, duration: Duration) {
        let key = RequestSeries.Key(method: method, route: route, status: status)
        let (counter, timer) = requestSeries.series.withLock { series in
            if let found = series[key] { return found }
            let made = (
                CoreMetrics.Counter(
                    label: "http_requests_total",
                    dimensions: [("method", method.rawValue), ("route", route), ("status", String(status))],
                    factory: factory
                ),
                CoreMetrics.Timer(
                    label: "http_request_duration_seconds",
                    dimensions: [("method", method.rawValue), ("route", route)],
                    factory: factory
                )
            )
            series[key] = made
            return made
        }
        counter.increment()
        timer.record(duration: duration)
    }

    public func recordPool(leased: Int, idle: Int, waiting: Int) {
        for (state, value) in [("leased", leased), ("idle", idle), ("waiting", waiting)] {
            Gauge(label: "catalog_postgres_pool_connections", dimensions: [("state", state)], factory: factory).record(value)
        }
    }
}

/// Metric series made once and kept, by name and labels: a request only increments and records.
public final class MetricSeries: Sendable {
    public init() {}

    private let counters = Mutex<[String: CoreMetrics.Counter]>([:])
    private let timers = Mutex<[String: CoreMetrics.Timer]>([:])

    public func counter(_ key: String, make: () -> CoreMetrics.Counter) -> CoreMetrics.Counter {
        Self.kept(key, in: counters, make)
    }

    public func timer(_ key: String, make: () -> CoreMetrics.Timer) -> CoreMetrics.Timer {
        Self.kept(key, in: timers, make)
    }

    /// The metric kept under `key`, made by `make` the first time.
    private static func kept<Metric>(_ key: String, in store: borrowing Mutex<[String: Metric]>, _ make: () -> Metric) -> Metric {
        store.withLock { metrics in
            if let metric = metrics[key] { return metric }
            let metric = make()
            metrics[key] = metric
            return metric
        }
    }
}

/// The request counter and latency histogram of each (method, route, status) seen.
final class RequestSeries: Sendable {
    struct Key: Hashable {
        var method: HTTPRequest.Method
        var route: String
        var status: Int
    }

    let series = Mutex<[Key: (CoreMetrics.Counter, CoreMetrics.Timer)]>([:])
}
