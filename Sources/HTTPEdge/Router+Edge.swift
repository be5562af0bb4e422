import Hummingbird
import NIOCore
import Prometheus

extension Router {
    /// Answers 405 with `Allow` for the methods a path does not take, instead of the router's 404
    /// (QUERY too, the safe method with a body of draft-ietf-httpbis-safe-method-w-body).
    public func refuseOtherMethods(_ path: RouterPath, allowed: [HTTPRequest.Method]) {
        let all: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete, .options, .trace, HTTPRequest.Method("QUERY")!]
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

extension Response {
    /// A JSON response from text the service wrote itself.
    public static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

extension Router {
    /// `GET /health/live` and `GET /metrics` (Prometheus text); `beforeScrape` refreshes gauges first.
    /// With `metrics` false, /metrics is closed: 404, and nothing of the registry is shown.
    public func addLivenessAndMetrics(
        registry: PrometheusCollectorRegistry,
        metrics: Bool = true,
        beforeScrape: @escaping @Sendable () -> Void = {}
    ) {
        get("/health/live") { _, _ in
            Response.json(.ok, #"{"status":"up"}"#)
        }
        get("/metrics") { _, _ in
            guard metrics else { throw Problem(.notFound, "Not found", detail: "this service does not serve metrics (--metrics off)") }
            beforeScrape()
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
    }
}
