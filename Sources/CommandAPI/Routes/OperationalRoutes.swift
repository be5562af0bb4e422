import EventLog
import FenceOutbox
import Foundation
import HTTPEdge
import Hummingbird
import NIOCore
import Prometheus

/// Health, metrics and the OpenAPI document.
struct OperationalRoutes<Context: RequestContext> {
    let store: EventStore
    let outbox: Outbox?
    let metrics: CommandMetrics
    /// Whether /metrics is served (`--metrics`).
    let metricsOpen: Bool

    func add(to router: Router<Context>) {
        router.addLivenessAndMetrics(registry: metrics.registry, metrics: metricsOpen) {
            let pool = store.connectionUse
            metrics.http.recordPool(leased: pool.leased, idle: pool.idle, waiting: pool.waiting)
        }
        router.get("/health/ready") { _, context in
            // Ready when the primary answers and the schema is there (catalog-migrate has run).
            let (state, problem) = await store.readiness()
            if let problem { context.logger.info("primary not ready", metadata: ["postgres.error": "\(problem)"]) }
            let ready = state == .up
            // The outbox does not decide readiness (commands go on while Redis is away); its backlog is detail.
            var outboxDetail = ""
            if let outbox, let (count, oldest) = try? await outbox.backlog() {
                outboxDetail = #","outbox":{"undelivered":\#(count),"oldestSeconds":\#((oldest * 1000).rounded() / 1000)}"#
            }
            return Self.json(
                ready ? .ok : .serviceUnavailable,
                #"{"status":"\#(ready ? "ready" : "not ready")","dependencies":{"primary":"\#(state.rawValue)"}\#(outboxDetail)}"#
            )
        }
        router.get("/openapi.json") { _, _ in
            Self.json(.ok, OpenAPIDocument.json)
        }
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response.json(status, text)
    }
}
