import CatalogCore
import Domain
import Foundation
import HTTPEdge

/// Turns request bodies into Domain commands. Shape errors (a wrong type, a missing or unknown field)
/// are collected per field, like the Domain's rule errors, and answered together as one 422.
struct CommandRequests {
    private var problems: [Problem.FieldProblem] = []
    private let body: [String: JSONValue]

    private init(_ json: JSONValue, allowed: Set<String>) throws(Problem) {
        guard case .object(let members) = json else {
            throw .invalid(field: "", "the body must be a JSON object")
        }
        body = members
        for key in members.keys.sorted() where !allowed.contains(key) {
            problems.append(.init(field: key, message: "is not a field of this request"))
        }
    }

    static func create(_ json: JSONValue) throws(Problem) -> CreateAlbum {
        var request = try CommandRequests(json, allowed: ["title", "artist", "releaseYear", "songs"])
        let title = request.requiredString("title")
        let artist = request.requiredString("artist")
        let year = request.optionalInteger("releaseYear")
        var songs: [NewSong] = []
        switch request.body["songs"] {
        case nil, .null?:
            break
        case .array(let items)?:
            for (index, item) in items.enumerated() {
                let field = "songs[\(index)]"
                guard case .object(let song) = item else {
                    request.problem(field, "must be an object")
                    continue
                }
                for key in song.keys.sorted() where !["title", "durationSeconds"].contains(key) {
                    request.problem("\(field).\(key)", "is not a field of a song")
                }
                let songTitle = request.string(song["title"], field: "\(field).title", required: true)
                let duration = request.integer(song["durationSeconds"], field: "\(field).durationSeconds").value
                songs.append(NewSong(title: songTitle ?? "", durationSeconds: duration))
            }
        case let other?:
            request.problem("songs", "must be an array, not \(other.typeName)")
        }
        try request.finish()
        return CreateAlbum(title: title ?? "", artist: artist ?? "", releaseYear: year.value, songs: songs)
    }

    static func changeDetails(_ json: JSONValue) throws(Problem) -> ChangeAlbumDetails {
        var request = try CommandRequests(json, allowed: ["title", "artist", "releaseYear"])
        let title = request.string(request.body["title"], field: "title", required: false)
        let artist = request.string(request.body["artist"], field: "artist", required: false)
        let year = request.optionalInteger("releaseYear")
        try request.finish()
        return ChangeAlbumDetails(title: title, artist: artist, releaseYear: year.update)
    }

    static func addSong(_ json: JSONValue) throws(Problem) -> AddSong {
        var request = try CommandRequests(json, allowed: ["title", "durationSeconds", "trackNumber"])
        let title = request.requiredString("title")
        let duration = request.optionalInteger("durationSeconds")
        let trackNumber = request.optionalInteger("trackNumber")
        try request.finish()
        return AddSong(title: title ?? "", durationSeconds: duration.value, trackNumber: trackNumber.value)
    }

    static func changeSong(_ json: JSONValue, songID: SongID) throws(Problem) -> ChangeSongDetails {
        var request = try CommandRequests(json, allowed: ["title", "durationSeconds"])
        let title = request.string(request.body["title"], field: "title", required: false)
        let duration = request.optionalInteger("durationSeconds")
        try request.finish()
        return ChangeSongDetails(songID: songID, title: title, durationSeconds: duration.update)
    }

    static func trackOrder(_ json: JSONValue) throws(Problem) -> [SongID] {
        var request = try CommandRequests(json, allowed: ["songIds"])
        var ids: [SongID] = []
        switch request.body["songIds"] {
        case .array(let items)?:
            for (index, item) in items.enumerated() {
                if case .string(let text) = item, let id = SongID(text) {
                    ids.append(id)
                } else {
                    request.problem("songIds[\(index)]", "must be a song id (UUID)")
                }
            }
        case nil:
            request.problem("songIds", "is required")
        case let other?:
            request.problem("songIds", "must be an array, not \(other.typeName)")
        }
        try request.finish()
        return ids
    }

    // MARK: - fields

    private mutating func problem(_ field: String, _ message: String) {
        problems.append(.init(field: field, message: message))
    }

    private func finish() throws(Problem) {
        if !problems.isEmpty { throw .invalid(problems) }
    }

    private mutating func requiredString(_ field: String) -> String? {
        string(body[field], field: field, required: true)
    }

    private mutating func string(_ value: JSONValue?, field: String, required: Bool) -> String? {
        switch value {
        case .string(let text)?:
            return text
        case nil:
            if required { problem(field, "is required") }
            return nil
        case let other?:
            problem(field, "must be a string, not \(other.typeName)")
            return nil
        }
    }

    private mutating func optionalInteger(_ field: String) -> (value: Int?, update: FieldUpdate<Int>) {
        integer(body[field], field: field)
    }

    /// Absent: unchanged; `null`: cleared; an integer: set.
    private mutating func integer(_ value: JSONValue?, field: String) -> (value: Int?, update: FieldUpdate<Int>) {
        switch value {
        case nil: return (nil, .unchanged)
        case .null?: return (nil, .clear)
        case .integer(let number)?:
            guard let exact = Int(exactly: number) else {
                problem(field, "is out of range")
                return (nil, .unchanged)
            }
            return (exact, .set(exact))
        case .number(let number)? where number.rounded(.towardZero) == number:
            // JSON Schema's integer: any number with a zero fraction (1967.0, 1.967e3).
            guard let exact = Int(exactly: number) else {
                problem(field, "is out of range")
                return (nil, .unchanged)
            }
            return (exact, .set(exact))
        case .number?:
            problem(field, "must be a whole number")
            return (nil, .unchanged)
        case let other?:
            problem(field, "must be an integer, not \(other.typeName)")
            return (nil, .unchanged)
        }
    }
}
