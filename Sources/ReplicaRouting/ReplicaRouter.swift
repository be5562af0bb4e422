import CatalogCore
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// Routes reads to replicas: checks every node's health on an interval, picks a usable replica for each
/// read (token-aware), retries a failed read once elsewhere, waits for a token within a budget, and
/// falls back to the primary under a concurrency limit. A `Service`: `run()` does the health checks.
public final class ReplicaRouter: Service, Sendable {
    public struct Replica: Sendable {
        public let name: String
        public let client: PostgresClient
        public init(name: String, client: PostgresClient) {
            self.name = name
            self.client = client
        }
    }

    public enum RoutingError: Error, Equatable, Sendable {
        /// No node could answer (or reach the token) within the budget; answer 503 with Retry-After.
        case unavailable
    }

    /// Where a read was answered and the checkpoint of the snapshot it read.
    public struct Served: Sendable, Equatable {
        public var node: String
        public var asOf: ConsistencyToken
    }

    public static let primaryName = "primary"

    let replicas: [Replica]
    let primary: PostgresClient
    let projection: String
    let checkInterval: Duration
    let logger: Logger
    private let state: Mutex<ReplicaSet>
    private let positions = Mutex(PrimaryPositions())
    private let primaryInFlight = Atomic<Int>(0)
    private let firstRoundPauses = Atomic<Int>(0)
    private let metrics: RoutingMetrics

    public init(
        replicas: [Replica],
        primary: PostgresClient,
        policy: RoutingPolicy = .init(),
        projection: String = "albums",
        checkInterval: Duration = .milliseconds(250),
        logger: Logger
    ) {
        self.replicas = replicas
        self.primary = primary
        self.projection = projection
        self.checkInterval = checkInterval
        self.logger = logger
        state = Mutex(ReplicaSet(names: replicas.map(\.name), policy: policy))
        metrics = RoutingMetrics(replicas: replicas.map(\.name), primaryName: Self.primaryName)
    }

    public var snapshot: ReplicaSet { state.withLock { $0 } }

    /// How many times a read has paused to wait for the first round of health checks (for tests: the
    /// proof that a read really waited, rather than arriving after the round).
    public var pausesForFirstRound: Int { firstRoundPauses.load(ordering: .relaxed) }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.checkAll()
                try? await Task.sleep(for: self.checkInterval)
            }
        }
    }

    /// One round of health checks: the primary's WAL position, then every replica at once. While the
    /// primary cannot be reached, replicas are measured against the last position it was seen at (nothing
    /// newer can have committed), so they keep serving reads.
    public func checkAll() async {
        if let position: UInt64 = try? await primary.query("SELECT pg_current_wal_lsn()::text").first
            .flatMap({ parseLSN(try $0.decode(String.self, at: 0)) })
        {
            positions.withLock { $0.record(position, at: .now) }
        }
        await withTaskGroup(of: (String, NodeHealth).self) { group in
            for replica in replicas {
                group.addTask { (replica.name, await self.check(replica)) }
            }
            for await (name, health) in group {
                let usable = state.withLock { set in
                    set.record(health, for: name)
                    return set.node(named: name).map(set.isUsable) ?? false
                }
                metrics.record(health, usable: usable, of: name)
            }
        }
        state.withLock { $0.measured = true }
    }

    func check(_ replica: Replica) async -> NodeHealth {
        do {
            let rows = try await replica.client.query(
                """
                SELECT pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text,
                       (SELECT txid::text FROM read_model.projection_checkpoints WHERE projection = \(projection)),
                       (SELECT position FROM read_model.projection_checkpoints WHERE projection = \(projection))
                """
            )
            guard let row = rows.first else { return .unknown }
            let replayed = parseLSN(try row.decode(String.self, at: 1)) ?? 0
            let lag = positions.withLock { $0.lag(ofReplayed: replayed, at: .now) }
            var checkpoint: ConsistencyToken?
            if let txid = try row.decode(String?.self, at: 2).flatMap(UInt64.init), let position = try row.decode(Int?.self, at: 3) {
                checkpoint = ConsistencyToken(transaction: txid, position: Int64(position))
            }
            return NodeHealth(
                reachable: true,
                inRecovery: try row.decode(Bool.self, at: 0),
                lagBytes: lag.bytes,
                lagSeconds: lag.seconds,
                checkpoint: checkpoint
            )
        } catch {
            logger.debug("replica health check failed", metadata: ["replica.name": "\(replica.name)", "error": "\(error)"])
            return .unknown
        }
    }

    /// Runs `body` on a node chosen for `token`. `body` runs one statement that returns the data and the
    /// checkpoint of the same snapshot, and returns both; an answer whose checkpoint is below the token is
    /// thrown away and the read goes elsewhere, so no answer is ever staler than the token. `pipelined`:
    /// the statement shares a pipelined connection (`PostgresClient.read`); false leases an exclusive one.
    public func read<Result: Sendable>(
        token: ConsistencyToken?,
        budget: Duration = .seconds(1),
        pipelined: Bool = true,
        _ body: (PostgresReader) async throws -> (Result, ConsistencyToken)
    ) async throws -> (Result, Served) {
        let deadline = ContinuousClock.now + budget
        var failedOn: Set<String> = []
        var failures = 0
        var pause: Duration = .milliseconds(2)
        var waited = false
        defer {
            if waited {
                metrics.tokenWaits.increment()
                let waitedFor = ContinuousClock.now - (deadline - budget)
                metrics.tokenWaitTime.recordNanoseconds(
                    waitedFor.components.seconds * 1_000_000_000 + waitedFor.components.attoseconds / 1_000_000_000
                )
            }
        }
        while true {
            let choice = state.withLock { $0.choose(token: token, excluding: failedOn) }
            metrics.decision(choice)
            switch choice {
            case .replica(let name), .probe(let name):
                // One retry on another replica; after that only the primary (when allowed) is tried.
                guard failures < 2 else { throw RoutingError.unavailable }
                let replica = replicas.first { $0.name == name }!
                state.withLock { $0.begin(name) }
                metrics.nodes[name]?.requests.increment()
                do {
                    let (result, asOf) = try await body(PostgresReader(client: replica.client, pipelined: pipelined))
                    state.withLock {
                        $0.end(name)
                        $0.observe(checkpoint: asOf, on: name)
                    }
                    guard let token, asOf < token else { return (result, Served(node: name, asOf: asOf)) }
                    // Not there yet. A probe pauses and tries again; a replica the health check said had
                    // reached the token (it cannot go back, unless it was rebuilt) is left out of this read.
                    waited = true
                    if case .replica = choice { failedOn.insert(name) }
                } catch let error as PostgresError where error.isUnavailable {
                    state.withLock {
                        $0.end(name)
                        $0.recordFailure(of: name)
                    }
                    metrics.nodes[name]?.errors.increment()
                    logger.warning("read failed on a replica; taken out of rotation", metadata: ["replica.name": "\(name)"])
                    failedOn.insert(name)
                    failures += 1
                    continue
                } catch {
                    state.withLock { $0.end(name) }
                    metrics.nodes[name]?.errors.increment()
                    throw error
                }
            case .primary:
                // No usable replica at all: the primary has the newest checkpoint anyway. Before the first
                // round of health checks (a service just started) the replicas are unknown, not unusable:
                // wait for the round within the budget rather than load the primary (I7).
                if state.withLock({ $0.measured }) {
                    if let answer = try await readFromPrimary(token: token, pipelined: pipelined, body) { return answer }
                } else {
                    firstRoundPauses.add(1, ordering: .relaxed)
                }
                waited = true
            }
            guard ContinuousClock.now < deadline else {
                if let answer = try await readFromPrimary(token: token, pipelined: pipelined, body) { return answer }
                throw RoutingError.unavailable
            }
            try await Task.sleep(for: min(pause, deadline - ContinuousClock.now))
            pause = min(pause * 2, .milliseconds(50))
            failedOn = failedOn.filter { name in state.withLock { $0.node(named: name)?.failed == true } }
        }
    }

    /// Whether `token` names a transaction the primary has not even started: a token this catalog never
    /// issued (a client's mistake), as opposed to one no node has reached yet. False when the primary
    /// cannot tell.
    public func neverIssued(_ token: ConsistencyToken) async -> Bool {
        guard
            let next = try? await primary.query("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").first
                .flatMap({ UInt64(try $0.decode(String.self, at: 0)) })
        else { return false }
        return token.transaction >= next
    }

    /// Whether the primary answers a trivial query now (readiness).
    public func primaryAnswers() async -> Bool {
        (try? await primary.query("SELECT 1")) != nil
    }

    /// The primary's answer; nil when even the primary's checkpoint is below the token (the projector
    /// has not applied it yet), so that the caller waits within its budget.
    private func readFromPrimary<Result: Sendable>(
        token: ConsistencyToken?,
        pipelined: Bool,
        _ body: (PostgresReader) async throws -> (Result, ConsistencyToken)
    ) async throws -> (Result, Served)? {
        let policy = state.withLock { $0.policy }
        guard policy.primaryFallback else { throw RoutingError.unavailable }
        guard primaryInFlight.add(1, ordering: .relaxed).newValue <= policy.primaryConcurrencyLimit else {
            primaryInFlight.subtract(1, ordering: .relaxed)
            metrics.fallbackRefused.increment()
            throw RoutingError.unavailable
        }
        defer { primaryInFlight.subtract(1, ordering: .relaxed) }
        metrics.primary.requests.increment()
        let result: Result
        let asOf: ConsistencyToken
        do {
            (result, asOf) = try await body(PostgresReader(client: primary, pipelined: pipelined))
        } catch {
            metrics.primary.errors.increment()
            throw error
        }
        if let token, asOf < token { return nil }
        return (result, Served(node: Self.primaryName, asOf: asOf))
    }
}
