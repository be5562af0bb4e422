import Foundation
import Postgres

/// The read model's statements, written once; bench/reads runs copies of the album's and the list's under
/// pgbench (and checks that both answer alike).
enum Statements {
    /// An album's view with the checkpoint of the snapshot it was read in.
    static let albumView = PostgresStatement(
        """
        SELECT c.txid::text, c.position, v.version, v.archived, v.document
        FROM (SELECT 1) one
        LEFT JOIN read_model.projection_checkpoints c ON c.projection = 'albums'
        LEFT JOIN read_model.album_views v ON v.id = $1
        """,
        types: [PostgresOID.uuid]
    )

    /// The list's statement: the checkpoint, then up to `limit` albums after the cursor, in (title, id)
    /// order. One statement per filter so that each uses its index: (title, id), (artist, title, id), or
    /// the trigram index for `q`.
    static func list(_ list: AlbumReads.ListQuery) -> PostgresQuery {
        // One more than the page: whether there is a next page.
        let query = listQuery(search: list.search, artist: list.artist, after: list.after, limit: list.limit + 1)
        let search = list.search
        // Without q, one plan serves every page (an index walk from the cursor): generic, so the server
        // does not plan it again per page. With q, the pattern decides between the trigram index and a
        // walk of the title index, so the server plans for each pattern.
        return search == nil ? query.planned(.generic) : query
    }

    private static func listQuery(search: String?, artist: String?, after: (title: String, id: UUID), limit: Int) -> PostgresQuery {
        let head = """
            SELECT c.txid::text, c.position, v.title, v.id, v.summary
            FROM (SELECT 1) one
            LEFT JOIN read_model.projection_checkpoints c ON c.projection = 'albums'
            LEFT JOIN LATERAL (
                SELECT v.title, v.id,
                       json_build_object('id', v.id, 'title', v.title, 'artist', v.artist, 'releaseYear', v.release_year,
                                         'songCount', v.song_count, 'version', v.version)::text AS summary
                FROM read_model.album_views v
                WHERE NOT v.archived
            """
        let tail = ") v ON true ORDER BY v.title, v.id"
        switch (search.map(likePattern), artist) {
        case (nil, nil):
            return """
                \(unsafeSQL: head) AND (v.title, v.id) > (\(after.title), \(after.id))
                ORDER BY v.title, v.id LIMIT \(limit) \(unsafeSQL: tail)
                """
        case (nil, let artist?):
            return """
                \(unsafeSQL: head) AND v.artist = \(artist) AND (v.artist, v.title, v.id) > (\(artist), \(after.title), \(after.id))
                ORDER BY v.artist, v.title, v.id LIMIT \(limit) \(unsafeSQL: tail)
                """
        case (let pattern?, nil):
            return """
                \(unsafeSQL: head) AND (v.title ILIKE \(pattern) OR v.artist ILIKE \(pattern)) AND (v.title, v.id) > (\(after.title), \(after.id))
                ORDER BY v.title, v.id LIMIT \(limit) \(unsafeSQL: tail)
                """
        case (let pattern?, let artist?):
            return """
                \(unsafeSQL: head) AND v.artist = \(artist) AND (v.title ILIKE \(pattern) OR v.artist ILIKE \(pattern))
                  AND (v.artist, v.title, v.id) > (\(artist), \(after.title), \(after.id))
                ORDER BY v.artist, v.title, v.id LIMIT \(limit) \(unsafeSQL: tail)
                """
        }
    }

    /// `%text%` for ILIKE, with the pattern characters of `text` escaped (backslash is ILIKE's escape).
    static func likePattern(_ text: String) -> String {
        // Scalar by scalar: `%` followed by a combining mark is one Character, which a Character
        // comparison would leave unescaped.
        var pattern = String.UnicodeScalarView()
        pattern.append("%")
        for scalar in text.unicodeScalars {
            if scalar == "%" || scalar == "_" || scalar == "\\" { pattern.append("\\") }
            pattern.append(scalar)
        }
        pattern.append("%")
        return String(pattern)
    }

    /// The history's statement: the checkpoint, whether the album exists as of it, and up to `limit` of its
    /// events after `after`, only those the checkpoint covers (so that the page matches As-Of exactly).
    /// One plan serves every album and page: generic.
    static func history(_ id: UUID, after: Int, limit: Int) -> PostgresQuery {
        let query: PostgresQuery = """
            SELECT c.txid::text, c.position,
                   EXISTS (SELECT 1 FROM read_model.album_history f
                           WHERE f.album_id = \(id) AND f.version = 1 AND (f.txid, f.position) <= (c.txid, c.position)),
                   h.version, h.type, h.schema_version, h.data::text,
                   to_char(h.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), h.subject, h.request_id
            FROM (SELECT 1) one
            LEFT JOIN read_model.projection_checkpoints c ON c.projection = 'albums'
            LEFT JOIN LATERAL (
                SELECT h.version, h.type, h.schema_version, h.data, h.recorded_at, h.subject, h.request_id
                FROM read_model.album_history h
                WHERE h.album_id = \(id) AND h.version > \(after) AND (h.txid, h.position) <= (c.txid, c.position)
                ORDER BY h.version LIMIT \(limit)
            ) h ON true
            ORDER BY h.version
            """
        return query.planned(.generic)
    }
}
