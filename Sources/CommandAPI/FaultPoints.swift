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
    static let ackedCommitDelay: Duration = .milliseconds(300)

    static func kill() -> Never {
        Foundation.kill(getpid(), SIGKILL)
        fatalError("SIGKILL did not stop the process")
    }
}
