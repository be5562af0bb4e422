import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion and returns its exit status and combined output. A small posix_spawn
/// wrapper: Foundation's Process on Linux can miss the exit of a child whose own children live on
/// (the cluster script leaves PostgreSQL and Redis running).
public enum ChildProcess {
    public static func run(_ path: String, arguments: [String], environment: [String]) throws -> (status: Int32, output: String) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw HarnessError("pipe failed: errno \(errno)") }
        // Neither end may leak into the child beyond its stdout and stderr, or daemons it starts would hold it open.
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let pid: pid_t
        do {
            pid = try spawn(path, arguments: arguments, environment: environment) { actions in
                posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
                posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
            }
            close(fds[1])
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fds[0], &buffer, buffer.count)
            if count > 0 {
                output.append(contentsOf: buffer[0..<count])
            } else if count == 0 || errno != EINTR {
                break
            }
        }
        close(fds[0])
        return (wait(pid), String(decoding: output, as: UTF8.self))
    }

    /// `run` on a thread of its own: waiting for the child never holds one of Swift's few cooperative
    /// threads (which would stall every other test of the run meanwhile).
    public static func runDetached(_ path: String, arguments: [String], environment: [String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try run(path, arguments: arguments, environment: environment) })
            }
        }
    }

    /// Waits for a child and returns its exit status (128 + N when signal N ended it).
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Starts a program with stdin from /dev/null, a clean signal mask and default dispositions;
    /// `redirect` sets up its stdout and stderr.
    static func spawn(
        _ path: String,
        arguments: [String],
        environment: [String],
        redirect: (inout posix_spawn_file_actions_t) -> Void
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        redirect(&actions)

        // Threads here may block signals and the test process ignores SIGPIPE; a child would inherit both, and
        // daemons it starts would then ignore the SIGTERM that stops them.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw HarnessError("cannot run \(path): error \(spawned)") }
        return pid
    }
}

/// A program left running in the background (a projector), its output going to a log file.
public final class BackgroundProcess: Sendable {
    public let pid: pid_t
    public let logPath: String

    /// Starts `path`; the environment is the test process's plus `environment`, or with `inherit` false
    /// `environment` alone.
    public init(_ path: String, arguments: [String], environment: [String: String] = [:], inherit: Bool = true, logPath: String) throws {
        let base = inherit ? ProcessInfo.processInfo.environment : [:]
        let variables = base.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        self.logPath = logPath
        pid = try ChildProcess.spawn(path, arguments: arguments, environment: variables) { actions in
            posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
    }

    public func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits for the process to end, on a thread of its own, and returns its exit status.
    public func wait() async -> Int32 {
        let pid = self.pid
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: ChildProcess.wait(pid)) }
        }
    }

    public var output: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }
}

extension Cluster {
    /// The path of one of the package's executables, built next to the test bundle.
    public static func executable(_ name: String) throws -> String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path,
            repositoryRoot.appendingPathComponent(".build/debug/\(name)").path,
        ]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw HarnessError("\(name) is not built: run swift build --build-tests first")
        }
        return path
    }
}
