import HTTPEdge
import Hummingbird

extension Problem {
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
    /// The key of another subject's command: refused whatever the request, and without its outcome.
    static let idempotencyKeyOfAnotherSubject = Problem(
        .unprocessableContent,
        "Idempotency key reused",
        detail: "this Idempotency-Key was used by another client; choose a new key"
    )
}
