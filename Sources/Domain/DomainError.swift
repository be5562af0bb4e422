import CatalogCore

/// Why the Domain refused a command. Each case maps to one HTTP status at the edge.
public enum DomainError: Error, Equatable, Sendable {
    /// The command breaks one or more rules (HTTP 422).
    case invalid([FieldError])
    /// No album has this id (HTTP 404).
    case albumNotFound
    /// The album is archived and takes no more commands (HTTP 410).
    case albumArchived
    /// The album has no song with this id (HTTP 404).
    case songNotFound(SongID)
    /// An album with this id exists already (HTTP 409).
    case albumExists
}

/// One broken rule, named by the field of the request it concerns (`title`, `songs[2].durationSeconds`).
public struct FieldError: Equatable, Sendable, Codable {
    public var field: String
    public var message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}
