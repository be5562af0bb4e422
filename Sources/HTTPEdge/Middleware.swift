import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

extension HTTPField.Name {
    public static let requestID = Self("Request-Id")!
    public static let consistencyToken = Self("Consistency-Token")!
}

/// The edge of every request, in one middleware (one async frame instead of two on the hot path):
/// - every response carries `Request-Id`, the client's own when it sent a sensible one, else a new one,
///   and every log line of the request carries it once, as `hb.request.id` (Hummingbird's key, whose
///   value this replaces: one id per line, the one the client sees);
/// - every error becomes an RFC 9457 response, so that nothing, not Hummingbird's own 404 nor an
///   unexpected failure, reaches the client in another shape;
/// - request metrics are recorded.
public struct EdgeMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: HTTPMetrics

    public init(metrics: HTTPMetrics) {
        self.metrics = metrics
    }

    @concurrent public func handle(
        _ request: Request,
        context: Context,
        next: @concurrent (Request, Context) async throws -> Response
    ) async throws -> Response {
        let id = request.headers[.requestID].flatMap(Self.acceptable) ?? RequestIDs.next()
        var context = context
        // Ours rather than Hummingbird's: its ids count up in the open (a client could read the request
        // rate off two of them); ours scramble the sequence (`RequestIDs`).
        context.logger[metadataKey: "hb.request.id"] = .string(id)
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let problem as Problem {
            response = try problem.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            let status = error.status
            response = try Problem(status, status.reasonPhrase.isEmpty ? "Error" : status.reasonPhrase).response(from: request, context: context)
        } catch {
            context.logger.error("unhandled error", metadata: ["error.type": "\(String(describing: type(of: error)))"])
            response = try Problem(.internalServerError, "Internal error").response(from: request, context: context)
        }
        let route = context.endpointPath ?? "unmatched"
        let elapsed = ContinuousClock.now - started
        metrics.recordRequest(method: request.method, route: route, status: response.status.code, duration: elapsed)
        context.logger.debug(
            "request",
            metadata: [
                "http.method": "\(request.method.rawValue)", "http.route": "\(route)", "http.status": "\(response.status.code)",
                "http.duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ]
        )
        response.headers[.requestID] = id
        return response
    }

    static func acceptable(_ id: String) -> String? {
        guard (1...200).contains(id.utf8.count), id.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else { return nil }
        return id
    }
}

/// New request ids: 32 hex digits, a random 64-bit prefix drawn once per process and a 64-bit sequence
/// number scrambled by a bijection (SplitMix64's finalizer with a random key), so ids never repeat within a
/// process and do not show how many requests came before. One atomic increment and no system call per
/// request (UUID() reads the kernel's random source every time).
public enum RequestIDs {
    private static let prefix = UInt64.random(in: .min ... .max)
    private static let key = UInt64.random(in: .min ... .max)
    private static let sequence = Atomic<UInt64>(0)

    public static func next() -> String {
        let number = sequence.wrappingAdd(1, ordering: .relaxed).oldValue
        return hex(prefix, scramble(number ^ key))
    }

    static func scramble(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func hex(_ high: UInt64, _ low: UInt64) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 32) { buffer in
            digits.withUTF8Buffer { digits in
                for (offset, word) in [(0, high), (16, low)] {
                    for index in 0..<16 {
                        buffer[offset + index] = digits[Int((word >> UInt64(60 - 4 * index)) & 0xF)]
                    }
                }
            }
            return 32
        }
    }
}
