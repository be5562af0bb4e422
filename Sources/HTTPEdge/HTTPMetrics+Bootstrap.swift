import CoreMetrics
import Prometheus

extension HTTPMetrics {
    /// Makes the process's registry and routes swift-metrics into it (executables only, once).
    public static func bootstrapRegistry() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }
}
