import Foundation
import TestFaults

/// command-api's test fault points (see `TestFaults`): off unless the process started with
/// `CATALOG_TEST_FAULT` naming them and `CATALOG_ALLOW_TEST_FAULTS=1`; no request can switch them on.
/// Each is a constant read once. The relay's, `relay-drops-fences`, lives in `OutboxRelay`.
enum FaultPoints {
    /// The faults command-api has points for (its start-up check names them).
    static let here: Set<TestFault> = [.killAfterCommit, .relayDropsFences, .ackBeforeCommit]

    /// `kill-after-commit`: SIGKILL right after a command's PostgreSQL commit, before its outbox intent is
    /// marked committed (so before its fence can be delivered).
    static let killAfterCommit = TestFaults.isActive(.killAfterCommit)

    /// `ack-before-commit` (breaks I1): a command is answered before its transaction commits; the commit
    /// follows `ackedCommitDelay` later, so a SIGKILL meanwhile loses an acknowledged command.
    static let ackBeforeCommit = TestFaults.isActive(.ackBeforeCommit)
    /// 300 ms, or `CATALOG_TEST_ACK_DELAY_MS` (1 to 60,000) when the fault is active: a test that kills
    /// the service after an answer on a loaded machine needs a window its own scheduling cannot miss.
    static let ackedCommitDelay: Duration = {
        guard ackBeforeCommit,
            let text = ProcessInfo.processInfo.environment["CATALOG_TEST_ACK_DELAY_MS"],
            let milliseconds = Int(text), (1...60_000).contains(milliseconds)
        else { return .milliseconds(300) }
        return .milliseconds(milliseconds)
    }()

    static func kill() -> Never {
        Foundation.kill(getpid(), SIGKILL)
        fatalError("SIGKILL did not stop the process")
    }
}
