import Foundation
import Hummingbird
import NIOCore

/// An RFC 9457 problem, the body of every error response. Its detail is written for the client and
/// never carries SQL, a stack trace, a password or a conninfo.
public struct Problem: Error, HTTPResponseError {
    public var status: HTTPResponse.Status
    public var title: String
    public var detail: String?
    public var errors: [FieldProblem]?
    public var headers: HTTPFields = [:]

    public struct FieldProblem: Codable, Equatable, Sendable {
        public var field: String
        public var message: String

        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    public init(_ status: HTTPResponse.Status, _ title: String, detail: String? = nil, errors: [FieldProblem]? = nil) {
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
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
    public static func malformedJSON(_ detail: String) -> Problem { Problem(.badRequest, "Malformed JSON", detail: detail) }
    public static func invalid(_ errors: [FieldProblem]) -> Problem {
        Problem(.unprocessableContent, "The request is invalid", detail: "see errors for each field", errors: errors)
    }
    public static func invalid(field: String, _ message: String) -> Problem { .invalid([FieldProblem(field: field, message: message)]) }
    public static let albumNotFound = Problem(.notFound, "Album not found")

    /// A dependency cannot be reached, or is too busy: worth retrying shortly.
    public static func unavailable(_ detail: String, retryAfterSeconds: Int = 1) -> Problem {
        var problem = Problem(.serviceUnavailable, "Service unavailable", detail: detail)
        problem.headers[.retryAfter] = String(retryAfterSeconds)
        return problem
    }
}
