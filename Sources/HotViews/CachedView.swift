import CatalogCore
import Foundation
import NIOCore

/// What Redis holds for one album: the answer `GET /albums/{id}` gives, with the version it shows and the
/// token of the snapshot it was read in. Unknown and archived albums are cached too, briefly, so that
/// repeated misses do not reach the replicas.
public struct CachedView: Sendable, Equatable {
    public enum State: String, Sendable {
        case live = "l"
        case archived = "a"
        /// No such album as of `asOf`; its version is 0, below any fence, so its creation removes it.
        case missing = "m"
    }

    public var state: State
    /// The album's version; 0 for a missing album.
    public var version: Int
    /// The checkpoint of the snapshot the view was read in: it reflects every event up to this token.
    public var asOf: ConsistencyToken
    /// The album view's JSON, as the response's body will carry it; empty unless live.
    public var document: ByteBuffer

    public init(state: State, version: Int, asOf: ConsistencyToken, document: ByteBuffer = ByteBuffer()) {
        self.state = state
        self.version = version
        self.asOf = asOf
        self.document = document
    }

    /// Whether this view may answer a read that carries `token` (any view answers a read without one).
    public func satisfies(_ token: ConsistencyToken?) -> Bool {
        token.map { $0 <= asOf } ?? true
    }
}
