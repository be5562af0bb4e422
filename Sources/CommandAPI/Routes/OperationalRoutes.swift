import Foundation
import Hummingbird
import NIOCore
import Postgres
import Prometheus

/// Health, metrics and the OpenAPI document.
struct OperationalRoutes<Context: RequestContext> {
    let postgres: PostgresClient
    let metrics: CommandMetrics

    func add(to router: Router<Context>) {
        router.get("/health/live") { _, _ in
            Self.json(.ok, #"{"status":"up"}"#)
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
            return Self.json(
                ready ? .ok : .serviceUnavailable,
                #"{"status":"\#(ready ? "ready" : "not ready")","dependencies":{"primary":"\#(state)"}}"#
            )
        }
        router.get("/metrics") { _, _ in
            let pool = postgres.poolStatistics
            metrics.recordPool((pool.leased, pool.idle, pool.waiting))
            var buffer: [UInt8] = []
            metrics.registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
        router.get("/openapi.json") { _, _ in
            Self.json(.ok, OpenAPIDocument.json)
        }
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

extension Router {
    /// Answers 405 with `Allow` for the methods a path does not take, instead of the router's 404.
    func refuseOtherMethods(_ path: RouterPath, allowed: [HTTPRequest.Method]) {
        let all: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete]
        let allow = allowed.map(\.rawValue).joined(separator: ", ")
        for method in all where !allowed.contains(method) && !(method == .head && allowed.contains(.get)) {
            on(path, method: method) { _, _ -> Response in
                var problem = Problem(.methodNotAllowed, "Method not allowed", detail: "this resource takes \(allow)")
                problem.headers[.allow] = allow
                throw problem
            }
        }
    }
}
