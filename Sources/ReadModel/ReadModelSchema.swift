import Postgres

/// The read model's schema on the primary (replication carries it to the replicas): the `read_model`
/// schema the projector owns, projection checkpoints and dead letters, and the album history view the
/// reader sees of the event log. Its migrations and the event log's (`EventLogSchema`) share one
/// sequence of versions: version 3's view reads the `events` table of version 1, version 5's the
/// metadata of version 4.
public enum ReadModelSchema {
    public static let migrations: [SchemaMigration] = [
        SchemaMigration(
            version: 2,
            name: "read model schema",
            sql: """
                -- Trusted extension: the database owner may create it. Trigram indexes back the title/artist search.
                CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
                -- Read tables live here. The projector creates, swaps and drops them (replay), so it owns them and
                -- grants the reader SELECT on each; it can create nothing anywhere else.
                CREATE SCHEMA read_model;
                GRANT USAGE, CREATE ON SCHEMA read_model TO catalog_projector;
                GRANT USAGE ON SCHEMA read_model TO catalog_reader;
                -- One row per projection: its checkpoint (the token of the last event applied), and the fencing
                -- value its leader must present on every write, raised by each new leader.
                CREATE TABLE read_model.projection_checkpoints (
                    projection text PRIMARY KEY,
                    txid xid8 NOT NULL DEFAULT '0',
                    position bigint NOT NULL DEFAULT 0,
                    fence bigint NOT NULL DEFAULT 0,
                    leader text,
                    leader_since timestamptz,
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    halted_at timestamptz,
                    halt_reason text
                );
                -- Events a projection could not apply, with the error, and whether it went on without them.
                CREATE TABLE read_model.projection_dead_letters (
                    projection text NOT NULL,
                    txid xid8 NOT NULL,
                    position bigint NOT NULL,
                    stream_id uuid NOT NULL,
                    version integer NOT NULL,
                    type text NOT NULL,
                    schema_version integer NOT NULL,
                    error text NOT NULL,
                    skipped boolean NOT NULL,
                    failed_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (projection, txid, position)
                );
                REVOKE ALL ON read_model.projection_checkpoints, read_model.projection_dead_letters FROM PUBLIC;
                GRANT SELECT, INSERT, UPDATE ON read_model.projection_checkpoints TO catalog_projector;
                GRANT SELECT, INSERT, UPDATE ON read_model.projection_dead_letters TO catalog_projector;
                GRANT SELECT ON read_model.projection_checkpoints TO catalog_reader;
                """
        ),
        SchemaMigration(
            version: 3,
            name: "album history view",
            sql: """
                -- An album's history for query-api: the events' public columns, and the commit order the
                -- checkpoint is compared with. A view runs with its owner's rights, so the reader sees this
                -- and nothing else of the event log (no idempotency keys, no request fingerprints).
                CREATE VIEW read_model.album_history AS
                    SELECT stream_id AS album_id, version, type, schema_version, data, recorded_at, txid, position FROM events;
                REVOKE ALL ON read_model.album_history FROM PUBLIC;
                GRANT SELECT ON read_model.album_history TO catalog_reader;
                """
        ),
        SchemaMigration(
            version: 5,
            name: "album history with its audit trail",
            sql: """
                -- Who caused each event and the request that carried it (the event log's migration 4).
                CREATE OR REPLACE VIEW read_model.album_history AS
                    SELECT stream_id AS album_id, version, type, schema_version, data, recorded_at, txid, position,
                           metadata->>'subject' AS subject, metadata->>'requestId' AS request_id
                    FROM events;
                """
        ),
    ]

    /// The albums projection's table: one row per album with everything the album view and the list need
    /// (songs in track order as a JSON array), and indexes for keyset pages by title, by artist, and
    /// trigram search. The projector creates it (and its copies, for replay and verify) from this; the
    /// statements of `AlbumReads` read it. Shape 2 added `document`, the album view's JSON as
    /// GET /albums/{id} answers it, made once per write instead of once per read.
    public static let albumViews = ReadTable(name: "album_views", key: "id", shape: 2) { table, bare in
        """
        CREATE TABLE \(table) (
            id uuid PRIMARY KEY,
            title text NOT NULL,
            artist text NOT NULL,
            release_year integer,
            songs jsonb NOT NULL,
            song_count integer NOT NULL,
            total_duration_seconds integer NOT NULL,
            version integer NOT NULL,
            archived boolean NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            document text NOT NULL
        );
        -- The list: keyset pages ordered by title then id, all albums or one artist's; archived albums are not listed.
        CREATE INDEX \(bare)_by_title ON \(table) (title, id) WHERE NOT archived;
        CREATE INDEX \(bare)_by_artist ON \(table) (artist, title, id) WHERE NOT archived;
        -- Case-insensitive substring search (ILIKE) on title or artist.
        CREATE INDEX \(bare)_search ON \(table) USING gin (title public.gin_trgm_ops, artist public.gin_trgm_ops) WHERE NOT archived;
        """
    }
}
