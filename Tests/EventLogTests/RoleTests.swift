import ClusterHarness
import EventLog
import Foundation
import Postgres
import Testing

/// Each role may do what its service needs and nothing else; every refusal is PostgreSQL's (42501).
@Suite(Cluster.needed) struct RoleTests {
    private func refused(_ variable: String, _ sql: String) async throws -> Bool {
        let client = try client(variable, poolSize: 1)
        do {
            try await client.query(PostgresQuery(unsafeSQL: sql))
            return false
        } catch let error as PostgresError {
            return error.sqlState == PostgresError.insufficientPrivilege
        }
    }

    @Test(arguments: [
        "UPDATE events SET type = 'x'",
        "DELETE FROM events",
        "TRUNCATE events",
        "CREATE TABLE writer_was_here (x int)",
        "ALTER TABLE events ADD COLUMN x int",
        "DROP TABLE events",
        "SELECT * FROM schema_migrations",
        "CREATE SCHEMA writer_schema",
    ])
    func theWriterCanOnlyInsertAndReadEvents(_ sql: String) async throws {
        _ = try await writerStore()
        #expect(try await refused("CATALOG_PRIMARY", sql), "\(sql)")
    }

    @Test func theWriterCanAppendAndRead() async throws {
        let store = try await writerStore()
        let stream = UUID()
        _ = try await store.append(to: stream, expectedVersion: 0, events: [sampleEvent()], metadata: .test)
        #expect(try await store.readStream(stream).count == 1)
    }

    @Test(arguments: [
        "INSERT INTO events (stream_id, version, type, schema_version, data) VALUES (gen_random_uuid(), 1, 't', 1, '{}')",
        "UPDATE events SET type = 'x'",
        "DELETE FROM events",
        "CREATE TABLE projector_was_here (x int)",
    ])
    func theProjectorCanOnlyReadEvents(_ sql: String) async throws {
        _ = try await projectorStore()
        #expect(try await refused("CATALOG_PROJECTOR_PRIMARY", sql), "\(sql)")
    }

    @Test(arguments: [
        "SELECT * FROM events LIMIT 1",
        "INSERT INTO events (stream_id, version, type, schema_version, data) VALUES (gen_random_uuid(), 1, 't', 1, '{}')",
        "CREATE TABLE reader_was_here (x int)",
        "SELECT * FROM schema_migrations",
    ])
    func theReaderCannotTouchTheEventLog(_ sql: String) async throws {
        _ = try await writerStore()
        #expect(try await refused("CATALOG_QUERY_PRIMARY", sql), "\(sql)")
    }
}
