import EventStore
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import NIOCore
import Postgres
import ReplicaRouting

extension HTTPField.Name {
    static let asOf = Self("As-Of")!
    static let servedBy = Self("Served-By")!
    static let cacheStatus = Self("Cache-Status")!
}

/// The album reads: each one statement that returns the data with the checkpoint of its snapshot.
struct AlbumRoutes<Context: RequestContext> {
    let router: ReplicaRouter
    let tokenBudget: Duration

    /// RFC 9211: no cache stands in front of the database yet, so every answer went past it.
    static var noCache: String { "catalog; fwd=bypass" }

    func add(to routes: Router<Context>) {
        addPages(to: routes)
        routes.get("/albums/:id") { request, context in
            let id = try Self.albumID(context)
            let token = try Self.token(request)
            let (album, served) = try await read(token: token) { session -> (AlbumView?, ConsistencyToken) in
                let rows = try await session.query(
                    """
                    SELECT c.txid::text, c.position, v.version, v.archived, v.document
                    FROM (SELECT 1) one
                    LEFT JOIN read_model.projection_checkpoints c ON c.projection = 'albums'
                    LEFT JOIN read_model.album_views v ON v.id = \(id)
                    """
                )
                guard let row = rows.first else { return (nil, .origin) }
                let asOf =
                    try row.decode(String?.self, at: 0) == nil ? ConsistencyToken.origin : try ConsistencyToken(row, transaction: 0, position: 1)
                guard let version = try row.decode(Int?.self, at: 2) else { return (nil, asOf) }
                return (AlbumView(version: version, archived: try row.decode(Bool.self, at: 3), json: try row.decode(String.self, at: 4)), asOf)
            }
            var headers: HTTPFields = [.asOf: served.asOf.description, .servedBy: served.node, .cacheStatus: Self.noCache]
            guard let album else { throw Self.problem(.albumNotFound, headers) }
            if album.archived { throw Self.problem(Problem(.gone, "Album archived", detail: "the album was archived"), headers) }
            let etag = "\"\(album.version)\""
            headers[.eTag] = etag
            if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: { Self.etagMatches($0, etag) }) {
                return Response(status: .notModified, headers: headers)
            }
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: album.json)))
        }
    }

    struct AlbumView: Sendable {
        var version: Int
        var archived: Bool
        var json: String
    }

    func read<Result: Sendable>(
        token: ConsistencyToken?,
        _ body: (PostgresSession) async throws -> (Result, ConsistencyToken)
    ) async throws -> (Result, ReplicaRouter.Served) {
        do {
            return try await router.read(token: token, budget: tokenBudget, body)
        } catch ReplicaRouter.RoutingError.unavailable {
            throw Problem.unavailable(token == nil ? "no database node can answer now" : "no database node has reached the consistency token yet")
        } catch let error as PostgresError where error.isUnavailable {
            throw Problem.unavailable("no database node can answer now")
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
        guard let text = context.parameters.get("id"), text.utf8.count == 36, let id = UUID(uuidString: text) else {
            throw Problem(.badRequest, "Invalid album id", detail: "an album id is a UUID")
        }
        return id
    }

    static func token(_ request: Request) throws -> ConsistencyToken? {
        guard let text = request.headers[.consistencyToken] else { return nil }
        guard let token = ConsistencyToken(text) else {
            throw Problem(.badRequest, "Invalid Consistency-Token", detail: "send a token exactly as a response gave it")
        }
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
