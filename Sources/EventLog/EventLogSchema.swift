import Postgres

/// The event log's schema: the `events` table, its indexes and its grants. A migration never changes once
/// released; a change is a new migration. Its versions share one sequence with the read model's
/// (`ReadModelSchema`), applied in order by `PostgresClient.migrate` (catalog-migrate). Role names are
/// the catalog's fixed roles (see README).
public enum EventLogSchema {
    public static let migrations: [SchemaMigration] = [
        SchemaMigration(
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
        SchemaMigration(
            version: 4,
            name: "event metadata",
            sql: """
                -- The audit trail: who caused each event (the token's subject) and the request that carried it.
                -- Events already in the log came from writes without authentication: the default, which
                -- PostgreSQL gives every existing row without rewriting the table, says so; dropping it then
                -- makes every new event name its own.
                ALTER TABLE events ADD COLUMN metadata jsonb NOT NULL DEFAULT '{"subject": "anonymous", "requestId": null}';
                ALTER TABLE events ALTER COLUMN metadata DROP DEFAULT;
                """
        ),
    ]
}
