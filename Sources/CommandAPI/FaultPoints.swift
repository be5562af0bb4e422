import Foundation

/// Faults for tests of crash recovery. Off unless the process starts with `CATALOG_TEST_FAULT` set in
/// its environment; no request can switch them on.
enum FaultPoints {
    /// `CATALOG_TEST_FAULT=kill-after-commit`: SIGKILL right after a command's PostgreSQL commit, before
    /// its outbox intent is marked committed (so before its fence can be delivered).
    static let killAfterCommit = ProcessInfo.processInfo.environment["CATALOG_TEST_FAULT"] == "kill-after-commit"

    static func kill() -> Never {
        Foundation.kill(getpid(), SIGKILL)
        fatalError("SIGKILL did not stop the process")
    }
}
