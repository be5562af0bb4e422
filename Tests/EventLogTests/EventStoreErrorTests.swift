import Postgres
import Testing

@testable import EventLog

/// Which database failures the event store names for its callers (pure: no cluster).
@Suite struct EventStoreErrorTests {
    @Test(arguments: [PostgresError.deadlockDetected, PostgresError.serializationFailure, "53100", "53200", "53300"])
    func aRefusalForNowIsTransient(_ sqlState: String) {
        guard case .transient? = EventStoreError(PostgresError(code: .server, sqlState: sqlState)) else {
            Issue.record("\(sqlState) is not transient")
            return
        }
    }

    @Test func aLostConnectionIsUnavailableAndTheStatementTimeoutTimedOut() {
        guard case .unavailable? = EventStoreError(PostgresError(code: .connectionLost)),
            case .unavailable? = EventStoreError(PostgresError(code: .commitOutcomeUnknown)),
            case .timedOut? = EventStoreError(PostgresError(code: .server, sqlState: PostgresError.queryCanceled))
        else {
            Issue.record("a lost connection or the statement timeout was not named")
            return
        }
    }

    @Test func aBugIsNotNamed() {
        #expect(EventStoreError(PostgresError(code: .server, sqlState: PostgresError.undefinedTable)) == nil)
        #expect(EventStoreError(PostgresError(code: .decoding, message: "x")) == nil)
    }
}
