import Foundation
import HTTPEdge
import Hummingbird
import NIOCore
import Outbox
import Postgres
import Prometheus

/// Health, metrics and the OpenAPI document.
struct OperationalRoutes<Context: RequestContext> {
    let postgres: PostgresClient
    let outbox: Outbox?
    let metrics: CommandMetrics

    func add(to router: Router<Context>) {
        router.addLivenessAndMetrics(registry: metrics.registry) {
            let pool = postgres.poolStatistics
            metrics.http.recordPool(leased: pool.leased, idle: pool.idle, waiting: pool.waiting)
        }
        router.get("/health/ready") { _, context in
            // Ready when the primary answers and the schema is there (catalog-migrate has run).
            let state: String
            do {
                try await postgres.query("SELECT 1 FROM events LIMIT 0")
                state = "up"
            } catch let error as PostgresError {
                context.logger.info("primary not ready", metadata: ["postgres.error": "\(error)"])
                state = error.isUnavailable ? "unreachable" : "schema missing"
            }
            let ready = state == "up"
            // The outbox does not decide readiness (commands go on while Redis is away); its backlog is detail.
            var outboxDetail = ""
            if let outbox, let (count, oldest) = try? await outbox.backlog() {
                outboxDetail = #","outbox":{"undelivered":\#(count),"oldestSeconds":\#((oldest * 1000).rounded() / 1000)}"#
            }
            return Self.json(
                ready ? .ok : .serviceUnavailable,
                #"{"status":"\#(ready ? "ready" : "not ready")","dependencies":{"primary":"\#(state)"}\#(outboxDetail)}"#
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
