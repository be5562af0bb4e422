import CoreMetrics
import HTTPEdge
import Metrics
import Prometheus

/// The command service's metrics, with a small fixed set of labels, through swift-metrics on the
/// service's registry (`HTTPMetrics.factory`). Each series is made once and kept, so a request only
/// increments and records: no registry lookup, no label arrays built per request.
struct CommandMetrics: Sendable {
    let http: HTTPMetrics
    private var series: MetricSeries { http.series }
    var registry: PrometheusCollectorRegistry { http.registry }

    init(registry: PrometheusCollectorRegistry) {
        self.http = HTTPMetrics(registry: registry)
    }

    func record(command: String, outcome: String, duration: Duration) {
        series.counter("commands|\(command)|\(outcome)") {
            CoreMetrics.Counter(label: "catalog_commands_total", dimensions: [("type", command), ("outcome", outcome)], factory: http.factory)
        }.increment()
        series.timer("command|\(command)") {
            CoreMetrics.Timer(label: "catalog_command_duration_seconds", dimensions: [("type", command)], factory: http.factory)
        }.record(duration: duration)
    }
}
