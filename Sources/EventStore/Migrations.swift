import Logging
import Postgres

/// The schema of the event store, as numbered migrations. A migration never changes once released;
/// a change is a new migration. Role names are the catalog's fixed roles (see README).
public enum Migrations {
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        public let sql: String
    }

    public static let all: [Migration] = [
        Migration(
            version: 1,
            name: "events",
            sql: """
                GRANT USAGE ON SCHEMA public TO catalog_writer, catalog_projector, catalog_reader;
                CREATE TABLE events (
                    position bigint GENERATED ALWAYS AS IDENTITY,
                    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
                    stream_id uuid NOT NULL,
                    version integer NOT NULL CHECK (version > 0),
                    type text NOT NULL,
                    schema_version integer NOT NULL CHECK (schema_version > 0),
                    data jsonb NOT NULL,
                    recorded_at timestamptz NOT NULL DEFAULT now(),
                    idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
                    request_hash text,
                    PRIMARY KEY (stream_id, version)
                );
                -- Commit-safe reading: by transaction id, then position; see EventStore.readAll.
                CREATE UNIQUE INDEX events_commit_order ON events (txid, position);
                CREATE UNIQUE INDEX events_idempotency_key ON events (idempotency_key) WHERE idempotency_key IS NOT NULL;
                REVOKE ALL ON events FROM PUBLIC;
                GRANT SELECT, INSERT ON events TO catalog_writer;
                GRANT SELECT ON events TO catalog_projector;
                """
        ),
        Migration(
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
        Migration(
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
    ]

    /// Applies every pending migration in one transaction, under a transaction-level advisory lock, so two
    /// processes migrating at once apply each migration exactly once (the second waits, then finds nothing
    /// to do). Returns the versions it applied. Run it as the schema owner.
    @discardableResult
    public static func migrate(_ client: PostgresClient, logger: Logger = Logger(label: "migrations")) async throws -> [Int] {
        try await client.withTransaction { tx in
            try await tx.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))")
            try await tx.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
            let applied = Set(try await tx.query("SELECT version FROM schema_migrations").map { try $0.decode(Int.self, at: 0) })
            var done: [Int] = []
            for migration in all where !applied.contains(migration.version) {
                try await tx.execute(script: migration.sql)
                try await tx.query("INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))")
                logger.info("applied migration", metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
                done.append(migration.version)
            }
            return done
        }
    }

    /// An arbitrary constant naming the catalog's migration lock.
    static let lockKey = 7_414_208_114_009
}
