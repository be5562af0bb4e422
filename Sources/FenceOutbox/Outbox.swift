import Foundation
import GRDB
import Logging
import Synchronization

/// The command side's local record of cache fences to deliver (SQLite through GRDB, WAL,
/// synchronous=FULL). An intent (album, version) is written before the PostgreSQL commit, marked
/// committed after it (or aborted when the command certainly failed), delivered to Redis by the
/// `OutboxRelay`, and pruned. An intent whose command died in between stays pending; the relay settles
/// it by asking the primary for the album's version. So every committed command's fence is delivered,
/// across Redis outages and command-api crashes (invariant I6).
///
/// Concurrent commands share SQLite commits: changes queue up and one writer applies everything queued
/// in one transaction (one fsync), so the outbox does not cap command throughput.
public final class Outbox: Sendable {
    public enum State: String, Sendable {
        case pending, committed, aborted, delivered
    }

    public struct Intent: Sendable, Equatable {
        public var id: Int64
        public var album: UUID
        public var version: Int
        public var state: State
        /// Which run of command-api wrote it: pending intents of an earlier run belong to dead commands.
        public var boot: String
        public var createdAt: Date
    }

    /// What `record` hands the command: enough to mark the intent afterwards.
    public struct Ticket: Sendable, Equatable {
        public let id: Int64
        public let album: UUID
        public let version: Int
    }

    let database: DatabaseQueue
    /// Intents whose command committed, waiting for the relay. Kept in memory only: a committed mark
    /// needs no disk write, because an intent lost from here (a crash) is still pending in the file and
    /// is settled by asking the primary. So a command waits for one SQLite commit, not two.
    private let deliverable = Mutex<[Ticket]>([])
    /// SQLite transactions the group commit has made (fewer than the changes under concurrency).
    let transactions = Atomic<Int>(0)
    /// This process's run.
    public let boot = UUID().uuidString.lowercased()
    private let queue = Mutex<Queue>(Queue())
    private let logger: Logger
    /// Raised whenever an intent becomes committed, so the relay delivers at once.
    let committed = Wakeup()

    private struct Queue {
        var changes: [Change] = []
        var writing = false
    }

    private struct Change {
        enum Kind {
            case record(album: UUID, version: Int)
            case mark([Int64], State)
        }
        var kind: Kind
        var done: CheckedContinuation<Int64, any Error>
    }

    /// Opens (or creates) the outbox file at `path`.
    public init(path: String, logger: Logger) throws {
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(),
            withIntermediateDirectories: true
        )
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // WAL, and every commit on the disk before the command goes on: an intent survives a power cut.
            // (GRDB's own WAL setting would lower synchronous to NORMAL.)
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        database = try DatabaseQueue(path: path, configuration: configuration)
        self.logger = logger
        var migrator = DatabaseMigrator()
        migrator.registerMigration("intents") { db in
            try db.execute(
                sql: """
                    CREATE TABLE intents (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        album TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        state TEXT NOT NULL CHECK (state IN ('pending', 'committed', 'aborted', 'delivered')),
                        boot TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE INDEX intents_by_state ON intents (state, id);
                    """
            )
        }
        try migrator.migrate(database)
    }

    // MARK: - the command's side

    /// Records, durably, the intent to raise `album`'s fence to `version`, before the command commits.
    public func record(album: UUID, version: Int) async throws -> Ticket {
        Ticket(id: try await enqueue(.record(album: album, version: version)), album: album, version: version)
    }

    /// The command committed: the relay delivers its fence now.
    public func markCommitted(_ ticket: Ticket) {
        deliverable.withLock { $0.append(ticket) }
        committed.signal()
    }

    /// The command certainly did not commit: nothing to deliver.
    public func markAborted(_ ticket: Ticket) async throws {
        _ = try await enqueue(.mark([ticket.id], .aborted))
    }

    // MARK: - the relay's side

    /// Intents due for delivery, up to `limit`: those of commands that committed in this run (in memory),
    /// then, with `includeSettled`, those settled as committed (a read of the file).
    func deliverableIntents(limit: Int, includeSettled: Bool = true) async throws -> [Ticket] {
        let fresh = deliverable.withLock { Array($0.prefix(limit)) }
        guard includeSettled, fresh.count < limit else { return fresh }
        let settled = try await intents(where: "state = 'committed'", limit: limit - fresh.count)
        return fresh + settled.map { Ticket(id: $0.id, album: $0.album, version: $0.version) }
    }

    /// The fences of `tickets` are in Redis.
    func markDelivered(_ tickets: [Ticket]) async throws {
        let ids = Set(tickets.map(\.id))
        _ = try await enqueue(.mark(Array(ids), .delivered))
        deliverable.withLock { $0.removeAll { ids.contains($0.id) } }
    }

    /// Pending intents of an earlier run, or of this one older than `age` and not waiting for delivery:
    /// their commands are gone, or stuck before knowing their outcome.
    func orphanedIntents(olderThan age: TimeInterval, limit: Int) async throws -> [Intent] {
        let boot = self.boot
        let cutoff = Date().timeIntervalSince1970 - age
        let waiting = Set(deliverable.withLock { $0.map(\.id) })
        return try await database.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM intents WHERE state = 'pending' AND (boot <> ? OR created_at < ?) ORDER BY id LIMIT ?",
                arguments: [boot, cutoff, limit + waiting.count]
            ).map(Self.intent)
        }.filter { !waiting.contains($0.id) }.prefix(limit).map { $0 }
    }

    func mark(_ ids: [Int64], _ state: State) async throws {
        guard !ids.isEmpty else { return }
        _ = try await enqueue(.mark(ids, state))
    }

    /// Deletes delivered and aborted intents last changed before `age` ago. Returns how many.
    @discardableResult
    func prune(olderThan age: TimeInterval) async throws -> Int {
        let cutoff = Date().timeIntervalSince1970 - age
        return try await database.write { db in
            try db.execute(sql: "DELETE FROM intents WHERE state IN ('delivered', 'aborted') AND updated_at < ?", arguments: [cutoff])
            return db.changesCount
        }
    }

    /// Intents whose fence is not delivered yet (pending or committed), and the age of the oldest.
    public func backlog() async throws -> (count: Int, oldestSeconds: Double) {
        try await database.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT count(*), min(created_at) FROM intents WHERE state IN ('pending', 'committed')")
            let count: Int = row?[0] ?? 0
            let oldest: Double? = row?[1]
            return (count, oldest.map { max(0, Date().timeIntervalSince1970 - $0) } ?? 0)
        }
    }

    /// Every intent (for tests and operators).
    public func all() async throws -> [Intent] {
        try await intents(where: "1 = 1", limit: Int(Int32.max))
    }

    private func intents(where condition: String, limit: Int) async throws -> [Intent] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM intents WHERE \(condition) ORDER BY id LIMIT ?", arguments: [limit]).map(Self.intent)
        }
    }

    private static func intent(_ row: Row) -> Intent {
        Intent(
            id: row["id"],
            album: UUID(uuidString: row["album"]) ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
            version: row["version"],
            state: State(rawValue: row["state"]) ?? .pending,
            boot: row["boot"],
            createdAt: Date(timeIntervalSince1970: row["created_at"])
        )
    }

    // MARK: - group commit

    /// Queues a change; the first caller to find no writer running becomes the writer and applies every
    /// queued change in one transaction, again and again until the queue is empty.
    private func enqueue(_ kind: Change.Kind) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            let startWriter = queue.withLock { queue in
                queue.changes.append(Change(kind: kind, done: continuation))
                guard !queue.writing else { return false }
                queue.writing = true
                return true
            }
            if startWriter { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch = queue.withLock { queue -> [Change] in
                let batch = queue.changes
                queue.changes = []
                if batch.isEmpty { queue.writing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            let kinds = batch.map(\.kind)
            let boot = self.boot
            transactions.add(1, ordering: .relaxed)
            do {
                let ids = try await database.write { db -> [Int64] in
                    let now = Date().timeIntervalSince1970
                    var ids: [Int64] = []
                    for kind in kinds {
                        switch kind {
                        case .record(let album, let version):
                            try db.execute(
                                sql: "INSERT INTO intents (album, version, state, boot, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?)",
                                arguments: [album.uuidString.lowercased(), version, boot, now, now]
                            )
                            ids.append(db.lastInsertedRowID)
                        case .mark(let marked, let state):
                            for id in marked {
                                try db.execute(
                                    sql: "UPDATE intents SET state = ?, updated_at = ? WHERE id = ?",
                                    arguments: [state.rawValue, now, id]
                                )
                            }
                            ids.append(marked.first ?? 0)
                        }
                    }
                    return ids
                }
                for (change, id) in zip(batch, ids) { change.done.resume(returning: id) }
            } catch {
                logger.error("outbox write failed", metadata: ["error": "\(error)"])
                for change in batch { change.done.resume(throwing: error) }
            }
        }
    }
}
