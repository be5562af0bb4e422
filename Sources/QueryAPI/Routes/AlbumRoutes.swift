import CatalogCore
import Foundation
import HTTPEdge
import HTTPTypes
import HotViews
import Hummingbird
import NIOCore
import ReadModel

extension HTTPField.Name {
    static let asOf = Self("As-Of")!
    static let servedBy = Self("Served-By")!
    static let cacheStatus = Self("Cache-Status")!
}

/// The album reads. An album's view comes from Redis when a cached one may answer, else from the read
/// model (`AlbumReads`: a node that has reached the client's token), which then fills Redis through the fence.
struct AlbumRoutes<Context: RequestContext> {
    let reads: AlbumReads
    /// nil when query-api runs without Redis.
    let cache: ViewCache?
    /// Concurrent misses of one album in this process make one database read.
    let flights = SingleFlight<UUID, DatabaseAnswer>()

    /// RFC 9211: no cache is configured, so every answer went past it.
    static var noCache: String { "catalog; fwd=bypass" }

    func add(to routes: some RouterMethods<Context>) {
        addPages(to: routes)
        routes.get("/albums/:id") { request, context in
            let id = try Self.albumID(context)
            let token = try Self.token(request)
            // A hit is answered here, in the handler's own frame: no further async call on its way.
            let answer: Answer
            if let cache {
                let found = await cache.lookup(id, token: token)
                if case .hit(let view) = found {
                    answer = Answer(view: view, servedBy: "cache", cacheStatus: "catalog; hit")
                } else {
                    answer = try await albumView(id, token: token, after: found, in: cache)
                }
            } else {
                let (view, served) = try await readAlbum(id, token: token)
                answer = Answer(view: view, servedBy: served.node, cacheStatus: Self.noCache)
            }
            let view = answer.view
            var headers: HTTPFields = [.asOf: view.asOf.description, .servedBy: answer.servedBy, .cacheStatus: answer.cacheStatus]
            switch view.state {
            case .missing: throw Self.problem(.albumNotFound, headers)
            case .archived: throw Self.problem(Problem(.gone, "Album archived", detail: "the album was archived"), headers)
            case .live: break
            }
            let etag = "\"\(view.version)\""
            headers[.eTag] = etag
            if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: { Self.etagMatches($0, etag) }) {
                return Response(status: .notModified, headers: headers)
            }
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: view.document))
        }
    }

    /// An album's view, where it came from, and what the cache did (RFC 9211 Cache-Status).
    struct Answer: Sendable {
        var view: CachedView
        var servedBy: String
        var cacheStatus: String
    }

    /// A database read shared by concurrent misses, and whether Redis took the fill.
    struct DatabaseAnswer: Sendable {
        var view: CachedView
        var node: String
        var stored: Bool
    }

    /// The answer when the cache's lookup found no view that may answer (`found`).
    func albumView(_ id: UUID, token: ConsistencyToken?, after found: ViewCache.Lookup, in cache: ViewCache) async throws -> Answer {
        switch found {
        case .hit(let view):
            return Answer(view: view, servedBy: "cache", cacheStatus: "catalog; hit")
        case .unavailable:
            let (view, served) = try await readAlbum(id, token: token)
            return Answer(view: view, servedBy: served.node, cacheStatus: "catalog; fwd=miss; detail=unavailable")
        case .miss:
            var (shared, _) = try await flights.run(id) { try await fillFromDatabase(cache, id, token: token) }
            if !shared.view.satisfies(token) {
                // The flight this read joined started with an older token: read for this one.
                shared = try await fillFromDatabase(cache, id, token: token)
            }
            if shared.node == "cache" { return Answer(view: shared.view, servedBy: "cache", cacheStatus: "catalog; hit") }
            return Answer(view: shared.view, servedBy: shared.node, cacheStatus: "catalog; fwd=miss" + (shared.stored ? "; stored" : ""))
        }
    }

    /// Reads the album from the database and fills Redis. When another process holds the album's fill
    /// lease, first waits briefly for its fill to appear.
    func fillFromDatabase(_ cache: ViewCache, _ id: UUID, token: ConsistencyToken?) async throws -> DatabaseAnswer {
        let leased = await cache.acquireFillLease(id)
        if !leased {
            for _ in 0..<5 {
                try await Task.sleep(for: cache.configuration.leaseTTL / 5)
                if case .hit(let view) = await cache.lookup(id, token: token) { return DatabaseAnswer(view: view, node: "cache", stored: false) }
            }
        }
        let (view, served) = try await readAlbum(id, token: token)
        let stored = await cache.fill(id, with: view)
        if leased { await cache.releaseFillLease(id) }
        return DatabaseAnswer(view: view, node: served.node, stored: stored)
    }

    /// The album as a node that has reached `token` holds it, as the cache stores it.
    func readAlbum(_ id: UUID, token: ConsistencyToken?) async throws -> (CachedView, AlbumReads.Served) {
        let (album, served) = try await Self.answering(await reads.album(id, token: token))
        let view =
            switch album.state {
            case .missing: CachedView(state: .missing, version: album.version, asOf: album.asOf)
            case .archived: CachedView(state: .archived, version: album.version, asOf: album.asOf)
            case .live: CachedView(state: .live, version: album.version, asOf: album.asOf, document: album.document)
            }
        return (view, served)
    }

    /// A read's answer, or the problem its failure is for the client.
    static func answering<Answer>(_ read: @autoclosure () async throws -> Answer) async throws -> Answer {
        do {
            return try await read()
        } catch let error as ReadModelError {
            throw problem(for: error)
        }
    }

    static func problem(for error: ReadModelError) -> Problem {
        switch error {
        case .tokenNeverIssued:
            Problem(
                .badRequest,
                "Invalid Consistency-Token",
                detail: "no write of this catalog has that token; send a token exactly as a response gave it"
            )
        case .noNode: .unavailable("no database node can answer now")
        case .tokenNotReached: .unavailable("no database node has reached the consistency token yet")
        case .timedOut: .unavailable("the database took too long to answer; retry")
        case .notBuilt: .unavailable("the read model is not built yet (projections run creates it)", retryAfterSeconds: 5)
        case .rebuilding: .unavailable("the read model is being rebuilt for this version (projections run does it)", retryAfterSeconds: 5)
        }
    }

    static func albumID(_ context: Context) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(text: text) else {
            throw Problem(.badRequest, "Invalid album id", detail: "an album id is a UUID")
        }
        return id
    }

    static func token(_ request: Request) throws -> ConsistencyToken? {
        guard let text = request.headers[.consistencyToken] else { return nil }
        guard let token = ConsistencyToken(text) else {
            throw Problem(.badRequest, "Invalid Consistency-Token", detail: "send a token exactly as a response gave it")
        }
        if FaultPoints.routerIgnoresTokens { return nil }
        return token
    }

    static func etagMatches(_ candidate: Substring, _ etag: String) -> Bool {
        let trimmed = candidate.trimmingCharacters(in: .whitespaces)
        return trimmed == "*" || trimmed == etag || trimmed == "W/" + etag
    }

    static func problem(_ problem: Problem, _ headers: HTTPFields) -> Problem {
        var problem = problem
        for field in headers { problem.headers[field.name] = field.value }
        return problem
    }
}
