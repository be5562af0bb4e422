import HTTPEdge
import Prometheus
import Synchronization

/// The command service's metrics, with a small fixed set of labels. Each series is made once and kept,
/// so a request only increments and records: no registry lookup, no label arrays built per request.
struct CommandMetrics: Sendable {
    let http: HTTPMetrics
    private var series: MetricSeries { http.series }
    var registry: PrometheusCollectorRegistry { http.registry }

    init(registry: PrometheusCollectorRegistry) {
        self.http = HTTPMetrics(registry: registry)
    }

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
                buckets: HTTPMetrics.buckets
            )
        }.record(duration)
    }
}
