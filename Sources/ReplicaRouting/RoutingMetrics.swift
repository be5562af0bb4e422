import Metrics

/// The router's metrics, made once with a fixed set of labels (one series per node and per choice).
struct RoutingMetrics: Sendable {
    struct NodeSeries: Sendable {
        let requests: Counter
        let errors: Counter
        let lagSeconds: Gauge
        let lagBytes: Gauge
        let usable: Gauge

        init(node: String) {
            let dimensions = [("node", node)]
            requests = Counter(label: "catalog_read_requests_total", dimensions: dimensions)
            errors = Counter(label: "catalog_read_errors_total", dimensions: dimensions)
            lagSeconds = Gauge(label: "catalog_replica_lag_seconds", dimensions: dimensions)
            lagBytes = Gauge(label: "catalog_replica_lag_bytes", dimensions: dimensions)
            usable = Gauge(label: "catalog_replica_usable", dimensions: dimensions)
        }
    }

    let nodes: [String: NodeSeries]
    let primary: NodeSeries
    let chosenReplica = Counter(label: "catalog_routing_decisions_total", dimensions: [("decision", "replica")])
    let chosenProbe = Counter(label: "catalog_routing_decisions_total", dimensions: [("decision", "probe")])
    let chosenPrimary = Counter(label: "catalog_routing_decisions_total", dimensions: [("decision", "primary")])
    let fallbackRefused = Counter(label: "catalog_primary_fallbacks_refused_total")
    let tokenWaits = Counter(label: "catalog_token_waits_total")
    let tokenWaitTime = Timer(label: "catalog_token_wait_seconds")

    init(replicas: [String], primaryName: String) {
        nodes = Dictionary(uniqueKeysWithValues: replicas.map { ($0, NodeSeries(node: $0)) })
        primary = NodeSeries(node: primaryName)
    }

    func record(_ health: NodeHealth, usable: Bool, of node: String) {
        guard let series = nodes[node] else { return }
        series.lagSeconds.record(health.lagSeconds.isFinite ? health.lagSeconds : -1)
        series.lagBytes.record(health.lagBytes == .max ? -1 : Double(health.lagBytes))
        series.usable.record(usable ? 1 : 0)
    }

    func decision(_ choice: ReplicaSet.Choice) {
        switch choice {
        case .replica: chosenReplica.increment()
        case .probe: chosenProbe.increment()
        case .primary: chosenPrimary.increment()
        }
    }
}
