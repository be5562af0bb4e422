import HTTPTypes
import Prometheus
import Synchronization

/// HTTP request metrics and pool gauges every catalog service exposes, with a small fixed set of labels.
public struct HTTPMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let series = MetricSeries()
    let requestSeries = RequestSeries()

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    public static let buckets: [Duration] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500].map { .milliseconds($0) }

    /// `route` is the matched route pattern (or "unmatched"), never the raw path, so the label set stays small.
    /// The series of a (method, route, status) are made once; a request then takes one lock for one
    /// dictionary lookup, without building a key string.
    public func recordRequest(method: HTTPRequest.Method, route: String, status: Int, duration: Duration) {
        let key = RequestSeries.Key(method: method, route: route, status: status)
        let (counter, histogram) = requestSeries.series.withLock { series in
            if let found = series[key] { return found }
            let made = (
                registry.makeCounter(
                    descriptor: .init(metricName: "http_requests", unitName: "total", helpText: "HTTP requests, by route and status"),
                    labels: [("method", method.rawValue), ("route", route), ("status", String(status))]
                ),
                registry.makeDurationHistogram(
                    descriptor: .init(metricName: "http_request_duration", unitName: "seconds", helpText: "HTTP request latency"),
                    labels: [("method", method.rawValue), ("route", route)],
                    buckets: Self.buckets
                )
            )
            series[key] = made
            return made
        }
        counter.increment()
        histogram.record(duration)
    }

    public func recordPool(leased: Int, idle: Int, waiting: Int) {
        for (state, value) in [("leased", leased), ("idle", idle), ("waiting", waiting)] {
            registry.makeGauge(
                descriptor: .init(metricName: "catalog_postgres_pool", unitName: "connections", helpText: "Primary pool connections by state"),
                labels: [("state", state)]
            ).set(Double(value))
        }
    }
}

/// Metric series made once and kept, by name and labels: a request only increments and records.
public final class MetricSeries: Sendable {
    public init() {}

    private let counters = Mutex<[String: Counter]>([:])
    private let histograms = Mutex<[String: DurationHistogram]>([:])

    public func counter(_ key: String, make: () -> Counter) -> Counter {
        counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = make()
            counters[key] = counter
            return counter
        }
    }

    public func histogram(_ key: String, make: () -> DurationHistogram) -> DurationHistogram {
        histograms.withLock { histograms in
            if let histogram = histograms[key] { return histogram }
            let histogram = make()
            histograms[key] = histogram
            return histogram
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

    let series = Mutex<[Key: (Counter, DurationHistogram)]>([:])
}
