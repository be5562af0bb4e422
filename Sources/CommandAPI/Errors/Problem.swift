import Foundation
import Hummingbird
import NIOCore

/// An RFC 9457 problem, the body of every error response. Its detail is written for the client and
/// never carries SQL, a stack trace, a password or a conninfo.
struct Problem: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var title: String
    var detail: String?
    var errors: [FieldProblem]?
    var headers: HTTPFields = [:]

    struct FieldProblem: Codable, Equatable, Sendable {
        var field: String
        var message: String
    }

    init(_ status: HTTPResponse.Status, _ title: String, detail: String? = nil, errors: [FieldProblem]? = nil) {
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = ProblemBody(type: "about:blank", title: title, status: status.code, detail: detail, errors: errors)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers = headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(body))))
    }
}

/// The JSON of a problem response.
private struct ProblemBody: Encodable {
    var type: String
    var title: String
    var status: Int
    var detail: String?
    var errors: [Problem.FieldProblem]?
}

extension Problem {
    static func malformedJSON(_ detail: String) -> Problem { Problem(.badRequest, "Malformed JSON", detail: detail) }
    static func invalid(_ errors: [FieldProblem]) -> Problem {
        Problem(.unprocessableContent, "The request is invalid", detail: "see errors for each field", errors: errors)
    }
    static func invalid(field: String, _ message: String) -> Problem { .invalid([FieldProblem(field: field, message: message)]) }
    static let albumNotFound = Problem(.notFound, "Album not found")
    static let albumArchived = Problem(.gone, "Album archived", detail: "an archived album takes no more commands")
    static func songNotFound(_ id: String) -> Problem { Problem(.notFound, "Song not found", detail: "the album has no song \(id)") }
    static func versionMismatch(current: Int) -> Problem {
        Problem(.preconditionFailed, "Version mismatch", detail: "the album is at version \(current)")
    }
    static let idempotencyKeyReused = Problem(
        .unprocessableContent,
        "Idempotency key reused",
        detail: "this Idempotency-Key was used for a different request"
    )

    /// The primary cannot be reached, or is too busy: worth retrying shortly.
    static func unavailable(_ detail: String, retryAfterSeconds: Int = 1) -> Problem {
        var problem = Problem(.serviceUnavailable, "Service unavailable", detail: detail)
        problem.headers[.retryAfter] = String(retryAfterSeconds)
        return problem
    }
}
