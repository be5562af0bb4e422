import Foundation
import Glibc
import NIOCore
import NIOPosix
import Postgres

// `bench-postgres-client`: the client alone, no HTTP. `--tasks` tasks each run one statement after
// another through `PostgresClient.read` (pipelined) for `--seconds`, on the event loops query-api uses
// (NIO's singleton group installed as the concurrency executor). It prints reads per second and the
// process's CPU and context switches per read, to set beside pgbench running the same statement with as
// many clients: what our client costs per read, without the HTTP server around it.

let usage = """
    usage: bench-postgres-client [--conninfo CONNINFO] --sql SQL --ids FILE [--tasks N] [--seconds S]
      --conninfo  the database (else $BENCH_CONNINFO, which keeps a password out of the process list)
      --sql  one SELECT with one uuid parameter, $1
      --ids  a file of album ids, one per line (read in turn by every task)
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("bench-postgres-client: \(message)\n\(usage)\n".utf8))
    exit(2)
}

var options: [String: String] = [:]
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard ["--conninfo", "--sql", "--ids", "--tasks", "--seconds"].contains(flag), let value = arguments.popFirst() else {
        fail("unknown flag or missing value: \(flag)")
    }
    options[flag] = value
}
guard let conninfo = options["--conninfo"] ?? ProcessInfo.processInfo.environment["BENCH_CONNINFO"], let sql = options["--sql"],
    let idsPath = options["--ids"]
else { fail("missing a flag") }
guard let text = try? String(contentsOfFile: idsPath, encoding: .utf8) else { fail("cannot read \(idsPath)") }
let ids = text.split(whereSeparator: \.isNewline).compactMap { UUID(uuidString: String($0)) }
guard !ids.isEmpty else { fail("no ids in \(idsPath)") }
guard let tasks = Int(options["--tasks"] ?? "64"), tasks > 0, let seconds = Double(options["--seconds"] ?? "10"), seconds > 0 else {
    fail("bad --tasks or --seconds")
}

struct Usage {
    var cpu: Double
    var switches: Int

    static func now() -> Usage {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return Usage(cpu: cpu, switches: usage.ru_nvcsw + usage.ru_nivcsw)
    }
}

NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
let statement = PostgresStatement(sql, types: [PostgresOID.uuid])
let client = try PostgresClient(configuration: .init(connectionString: conninfo))

/// Runs every task for `duration`; returns the reads done and the failures.
func run(for duration: Duration) async -> (reads: Int, failures: Int) {
    let end = ContinuousClock.now + duration
    return await withTaskGroup(of: (Int, Int).self) { group in
        for task in 0..<tasks {
            group.addTask {
                var reads = 0
                var failures = 0
                var index = task * 7919 % ids.count
                while ContinuousClock.now < end {
                    do {
                        _ = try await client.read(statement(ids[index]))
                        reads += 1
                    } catch {
                        failures += 1
                    }
                    index = (index + 1) % ids.count
                }
                return (reads, failures)
            }
        }
        return await group.reduce(into: (0, 0)) {
            $0.0 += $1.0
            $0.1 += $1.1
        }
    }
}

_ = await run(for: .seconds(2))
let before = Usage.now()
let start = ContinuousClock.now
let (reads, failures) = await run(for: .seconds(seconds))
let elapsed = ContinuousClock.now - start
let after = Usage.now()
let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print(
    String(
        format: "reads/s %.0f  cpu_us/read %.1f  ctx_switches/read %.2f  failures %d",
        Double(reads) / wall,
        (after.cpu - before.cpu) * 1e6 / Double(max(reads, 1)),
        Double(after.switches - before.switches) / Double(max(reads, 1)),
        failures
    )
)
exit(failures > 0 ? 1 : 0)
