import Authentication
import CatalogCore
import Domain
import EventLog
import Foundation
import HTTPEdge
import Hummingbird
import NIOCore

/// The write endpoints of CONTRACT.md.
struct CommandRoutes<Context: IdentifiedRequestContext> {
    let service: CommandService
    /// Request bodies above this are refused with 413.
    static var maximumBodyBytes: Int { 256 * 1024 }

    func add(to router: some RouterMethods<Context>) {
        router.post("/albums") { request, context in
            let json = try await Self.jsonBody(request, context: context)
            let command = AlbumCommand.create(try CommandRequests.create(json))
            let key = try Self.idempotencyKey(request, canonical: json.canonical)
            let outcome = try await service.handle(
                command,
                on: AlbumID(),
                ifMatch: nil,
                idempotency: key,
                metadata: Self.metadata(context),
                logger: context.logger
            )
            return Self.respond(outcome, status: .created, location: "/albums/\(outcome.albumID)")
        }
        router.patch("/albums/:id") { request, context in
            let json = try await Self.jsonBody(request, context: context)
            return try await run(.changeDetails(try CommandRequests.changeDetails(json)), request, context, canonical: json.canonical)
        }
        router.delete("/albums/:id") { request, context in
            try await run(.archive, request, context, canonical: "")
        }
        router.post("/albums/:id/songs") { request, context in
            let json = try await Self.jsonBody(request, context: context)
            let albumID = try Self.albumID(context)
            let outcome = try await service.handle(
                .addSong(try CommandRequests.addSong(json)),
                on: albumID,
                ifMatch: try Self.ifMatch(request),
                idempotency: try Self.idempotencyKey(request, canonical: json.canonical),
                metadata: Self.metadata(context),
                logger: context.logger
            )
            let location = outcome.songID.map { "/albums/\(albumID)/songs/\($0)" }
            return Self.respond(outcome, status: .created, location: location)
        }
        router.patch("/albums/:id/songs/:songId") { request, context in
            let json = try await Self.jsonBody(request, context: context)
            let songID = try Self.songID(context)
            return try await run(.changeSong(try CommandRequests.changeSong(json, songID: songID)), request, context, canonical: json.canonical)
        }
        router.delete("/albums/:id/songs/:songId") { request, context in
            try await run(.removeSong(try Self.songID(context)), request, context, canonical: "")
        }
        router.put("/albums/:id/track-order") { request, context in
            let json = try await Self.jsonBody(request, context: context)
            return try await run(.reorderTracks(try CommandRequests.trackOrder(json)), request, context, canonical: json.canonical)
        }
    }

    private func run(_ command: AlbumCommand, _ request: Request, _ context: Context, canonical: String) async throws -> Response {
        let outcome = try await service.handle(
            command,
            on: try Self.albumID(context),
            ifMatch: try Self.ifMatch(request),
            idempotency: try Self.idempotencyKey(request, canonical: canonical),
            metadata: Self.metadata(context),
            logger: context.logger
        )
        return Self.respond(outcome, status: .ok, location: nil)
    }

    // MARK: - reading requests

    /// The audit trail of the command's events: who sent it (the verified token's subject, `anonymous`
    /// where writes need no token) and the request's id (`Request-Id`, set by the edge middleware).
    static func metadata(_ context: Context) -> EventMetadata {
        EventMetadata(subject: context.identity?.subject ?? EventMetadata.anonymousSubject, requestID: context.id)
    }

    /// The body as JSON: 415 unless it says it is JSON, 413 past the limit, 400 when it does not parse.
    static func jsonBody(_ request: Request, context: Context) async throws -> JSONValue {
        guard let type = request.headers[.contentType], isJSON(type) else {
            throw Problem(.unsupportedMediaType, "Unsupported media type", detail: "send the body as application/json")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, "Body too large", detail: "the body may hold at most \(maximumBodyBytes / 1024) KiB")
        }
        guard buffer.readableBytes > 0 else { throw Problem.malformedJSON("the body is empty") }
        do {
            return try JSONParser.parse(Array(buffer: buffer))
        } catch {
            throw Problem.malformedJSON("the body is not valid JSON: \(error.reason) at byte \(error.offset)")
        }
    }

    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1)[0].trimmingCharacters(in: .whitespaces).lowercased()
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    static func albumID(_ context: Context) throws(Problem) -> AlbumID {
        guard let text = context.parameters.get("id"), let id = AlbumID(text) else {
            throw Problem(.badRequest, "Invalid album id", detail: "an album id is a UUID")
        }
        return id
    }

    static func songID(_ context: Context) throws(Problem) -> SongID {
        guard let text = context.parameters.get("songId"), let id = SongID(text) else {
            throw Problem(.badRequest, "Invalid song id", detail: "a song id is a UUID")
        }
        return id
    }

    /// `If-Match`: `*` or entity tags (see IfMatch); a value outside that grammar is a client error.
    static func ifMatch(_ request: Request) throws(Problem) -> IfMatch? {
        let values = request.headers[values: .ifMatch]
        guard !values.isEmpty else { return nil }
        guard let condition = IfMatch(values.joined(separator: ",")) else {
            throw Problem(.badRequest, "Invalid If-Match", detail: #"If-Match takes * or ETags of the album, e.g. "3""#)
        }
        return condition
    }

    static func idempotencyKey(_ request: Request, canonical: String) throws(Problem) -> IdempotencyKey? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard (1...200).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) else {
            throw Problem(.badRequest, "Invalid Idempotency-Key", detail: "an Idempotency-Key is 1 to 200 printable ASCII characters")
        }
        let fingerprint = RequestFingerprint.of("\(request.method.rawValue) \(request.uri.path)\n\(canonical)".utf8)
        return IdempotencyKey(key: key, requestHash: fingerprint)
    }

    // MARK: - answering

    static func respond(_ outcome: CommandOutcome, status: HTTPResponse.Status, location: String?) -> Response {
        let body = CommandResultBody(id: outcome.albumID.description, version: outcome.version, songId: outcome.songID?.description)
        var headers: HTTPFields = [
            .contentType: "application/json",
            .eTag: "\"\(outcome.version)\"",
            .consistencyToken: outcome.token.description,
        ]
        if let location { headers[.location] = location }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding two strings and an integer cannot fail.
        let bytes = try! encoder.encode(body)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// The JSON of a successful command.
private struct CommandResultBody: Encodable {
    var id: String
    var version: Int
    var songId: String?
}
