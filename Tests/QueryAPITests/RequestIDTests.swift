import HTTPEdge
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Synchronization
import Testing

@Suite struct RequestIDTests {
    @Test func newRequestIDsAre32HexDigitsAndNeverRepeat() {
        var seen = Set<String>()
        var malformed: [String] = []
        for _ in 0..<100_000 {
            let id = RequestIDs.next()
            // One expectation at the end: 100,000 of them would hold a cooperative thread for seconds while
            // timing-sensitive tests of other suites run.
            if id.utf8.count != 32 || !id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) {
                malformed.append(id)
            }
            seen.insert(id)
        }
        #expect(malformed.isEmpty, "\(malformed.prefix(5))")
        #expect(seen.count == 100_000)
    }

    /// One id per request, in the response and in every log line of it, under one key: the edge's id
    /// replaces Hummingbird's own rather than sitting beside it.
    @Test func aRequestsLogLinesCarryOneIdTheOneItsResponseCarries() async throws {
        let lines = CapturedLines()
        let logger = Logger(label: "request-id-test") { _ in CapturingHandler(lines: lines) }
        let router = Router()
        router.add(middleware: EdgeMiddleware(metrics: HTTPMetrics(registry: PrometheusCollectorRegistry())))
        router.get("/seen") { _, context in
            context.logger.info("seen")
            return "ok"
        }
        let app = Application(router: router, logger: logger)
        let answered = try await app.test(.router) { client in
            let new = try await client.execute(uri: "/seen", method: .get)
            let own = try await client.execute(uri: "/seen", method: .get, headers: [.requestID: "client-chosen-7"])
            return [new.headers[.requestID], own.headers[.requestID]]
        }
        let logged = lines.all.withLock { $0 }
        #expect(logged.count == 2)
        #expect(logged.map { $0["hb.request.id"]?.description } == answered)
        #expect(answered[1] == "client-chosen-7")
        #expect(answered[0]?.utf8.count == 32)
        #expect(logged.allSatisfy { $0.keys.filter { $0.contains("request") }.count == 1 }, "\(logged)")
    }
}

/// The metadata of every line logged at info or above.
private final class CapturedLines: Sendable {
    let all = Mutex<[Logger.Metadata]>([])
}

private struct CapturingHandler: LogHandler {
    let lines: CapturedLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level,
        message: Logger.Message,
        metadata explicit: Logger.Metadata?,
        source: String,
        file: String,
        function: String,
        line: UInt
    ) {
        let merged = metadata.merging(explicit ?? [:]) { _, new in new }
        lines.all.withLock { $0.append(merged) }
    }
}
