import HTTPEdge
import Hummingbird

/// A request context that carries who sent the request, once a token said so.
public protocol IdentifiedRequestContext: RequestContext {
    var identity: Identity? { get set }
}

/// The catalog's services' request context: Hummingbird's, plus the verified identity.
public struct CatalogRequestContext: IdentifiedRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
    }
}

/// Lets a request through only with a bearer token the verifier accepts and that grants `scope`;
/// otherwise 401 (no or an invalid token) or 403 (a valid token without the scope), as RFC 6750 says,
/// with a problem that never quotes the token.
public struct BearerAuthMiddleware<Context: IdentifiedRequestContext>: RouterMiddleware {
    let verifier: TokenVerifier
    let scope: String

    public init(verifier: TokenVerifier, scope: String) {
        self.verifier = verifier
        self.scope = scope
    }

    @concurrent public func handle(
        _ request: Request,
        context: Context,
        next: @concurrent (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        do {
            context.identity = try await verifier.identity(authorization: request.headers[.authorization], requiring: scope)
        } catch {
            throw Self.problem(error, scope: scope)
        }
        return try await next(request, context)
    }

    /// The answer to a request that may not pass.
    public static func problem(_ error: AuthenticationError, scope: String) -> Problem {
        var problem: Problem
        let challenge: String
        switch error {
        case .missing, .configuration:
            problem = Problem(.unauthorized, "Authentication required", detail: "send Authorization: Bearer <token> with the scope \(scope)")
            challenge = #"Bearer realm="catalog""#
        case .invalid(let reason):
            problem = Problem(.unauthorized, "Invalid token", detail: reason)
            challenge = #"Bearer realm="catalog", error="invalid_token", error_description="\#(reason)""#
        case .insufficientScope(let needed):
            problem = Problem(.forbidden, "Insufficient scope", detail: "this operation needs the scope \(needed)")
            challenge = #"Bearer realm="catalog", error="insufficient_scope", scope="\#(needed)""#
        }
        problem.headers[.wwwAuthenticate] = challenge
        return problem
    }
}
