import HTTPEdge
import HotViews
import Hummingbird
import NIOCore
import ReplicaRouting

/// Health and metrics of the read side.
struct QueryOperationalRoutes<Context: RequestContext> {
    let replicas: ReplicaRouter
    let cache: ViewCache?
    let metrics: HTTPMetrics
    /// Whether /metrics is served (`--metrics`).
    let metricsOpen: Bool

    func add(to routes: Router<Context>) {
        routes.addLivenessAndMetrics(registry: metrics.registry, metrics: metricsOpen)
        routes.get("/openapi.json") { _, _ in Response.json(.ok, OpenAPIDocument.json) }
        routes.get("/health/ready") { _, _ in
            // Ready when some node can answer: a usable replica, or the primary as a fallback.
            let set = replicas.snapshot
            var dependencies: [String] = []
            var usable = false
            for node in set.nodes {
                let state =
                    set.isUsable(node) ? "usable" : !node.health.reachable ? "unreachable" : !node.health.inRecovery ? "not a standby" : "lagging"
                usable = usable || state == "usable"
                dependencies.append(#""\#(node.name)":"\#(state)""#)
            }
            let primaryUp = await replicas.primaryAnswers()
            dependencies.append(#""primary":"\#(primaryUp ? "up" : "unreachable")""#)
            // The cache is not needed to answer: while Redis is away reads skip it, and the service stays ready.
            if let cache { dependencies.append(#""redis":"\#(cache.isAvailable ? "up" : "skipped")""#) }
            // Not before the first round of health checks: until then reads wait for it.
            let ready = set.measured && (usable || (primaryUp && set.policy.primaryFallback))
            return Response.json(
                ready ? .ok : .serviceUnavailable,
                #"{"status":"\#(ready ? "ready" : "not ready")","dependencies":{\#(dependencies.joined(separator: ","))}}"#
            )
        }
    }
}
