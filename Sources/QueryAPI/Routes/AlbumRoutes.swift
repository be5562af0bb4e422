import EventStore
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import NIOCore
import Postgres
import ReplicaRouting
import ViewCache

extension HTTPField.Name {
    static let asOf = Self("As-Of")!
    static let servedBy = Self("Served-By")!
    static let cacheStatus = Self("Cache-Status")!
}

/// The album reads: each one statement that returns the data with the checkpoint of its snapshot. An
/// album's view comes from Redis when a cached one may answer, else from the database, which then fills
/// Redis through the fence.
struct AlbumRoutes<Context: RequestContext> {
    let router: ReplicaRouter
    let tokenBudget: Duration
    /// nil when query-api runs without Redis.
    let cache: ViewCache?
    /// Concurrent misses of one album in this process make one database read.
    let flights = SingleFlight<UUID, DatabaseAnswer>()

    /// RFC 9211: no cache is configured, so every answer went past it.
    static var noCache: String { "catalog; fwd=bypass" }

    func add(to routes: Router<Context>) {
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

    /// The album as a node that has reached `token` holds it, in one statement with its checkpoint.
    func readAlbum(_ id: UUID, token: ConsistencyToken?) async throws -> (CachedView, ReplicaRouter.Served) {
        try await read(token: token) { session -> (CachedView, ConsistencyToken) in
            let rows = try await session.query(AlbumStatements.view(id))
            guard let row = rows.first, try row.decode(String?.self, at: 0) != nil else {
                return (CachedView(state: .missing, version: 0, asOf: .origin), .origin)
            }
            let asOf = try ConsistencyToken(row, transaction: 0, position: 1)
            guard let version = try row.decode(Int?.self, at: 2) else { return (CachedView(state: .missing, version: 0, asOf: asOf), asOf) }
            let view =
                try row.decode(Bool.self, at: 3)
                ? CachedView(state: .archived, version: version, asOf: asOf)
                : CachedView(state: .live, version: version, asOf: asOf, document: try Self.document(row))
            return (view, asOf)
        }
    }

    /// The view's JSON as the row holds it, shared with the result rather than copied into a String.
    static func document(_ row: PostgresRow) throws(PostgresError) -> ByteBuffer {
        guard let document = row.buffer(at: 4) else {
            throw PostgresError(code: .decoding, message: "column document is NULL for a live album")
        }
        return document
    }

    /// `pipelined`: an album's read (a point lookup) shares a pipelined connection; list, search and
    /// history pages each lease an exclusive connection: pipelined, their p99 on two cores was three to
    /// four times the exclusive connections' (bench/reads, README "Benchmarks").
    func read<Result: Sendable>(
        token: ConsistencyToken?,
        pipelined: Bool = true,
        _ body: (PostgresReader) async throws -> (Result, ConsistencyToken)
    ) async throws -> (Result, ReplicaRouter.Served) {
        do {
            return try await router.read(token: token, budget: tokenBudget, pipelined: pipelined, body)
        } catch ReplicaRouter.RoutingError.unavailable {
            if let token, await router.neverIssued(token) {
                throw Problem(
                    .badRequest,
                    "Invalid Consistency-Token",
                    detail: "no write of this catalog has that token; send a token exactly as a response gave it"
                )
            }
            throw Problem.unavailable(token == nil ? "no database node can answer now" : "no database node has reached the consistency token yet")
        } catch let error as PostgresError where error.isUnavailable {
            throw Problem.unavailable("no database node can answer now")
        } catch let error as PostgresError where error.sqlState == PostgresError.queryCanceled {
            // The statement timeout: a search no index serves (a one- or two-letter q) on a busy node.
            throw Problem.unavailable("the database took too long to answer; retry")
        } catch let error as PostgresError where error.sqlState == Self.undefinedTable {
            throw Problem.unavailable("the read model is not built yet (projections run creates it)", retryAfterSeconds: 5)
        } catch let error as PostgresError where error.sqlState == Self.undefinedColumn {
            // This version reads a newer shape of the read tables than the node has: projections run
            // rebuilds them when it starts, and replication brings the new ones.
            throw Problem.unavailable("the read model is being rebuilt for this version (projections run does it)", retryAfterSeconds: 5)
        }
    }

    static var undefinedTable: String { "42P01" }
    static var undefinedColumn: String { "42703" }

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

/// The statements of the album reads, written once (see `PostgresStatement`).
enum AlbumStatements {
    /// An album's view with the checkpoint of the snapshot it was read in. bench/reads runs this statement
    /// under pgbench too (it checks that both answer alike).
    static let view = PostgresStatement(
        """
        SELECT c.txid::text, c.position, v.version, v.archived, v.document
        FROM (SELECT 1) one
        LEFT JOIN read_model.projection_checkpoints c ON c.projection = 'albums'
        LEFT JOIN read_model.album_views v ON v.id = $1
        """,
        types: [PostgresOID.uuid]
    )
}
