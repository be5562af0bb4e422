import Foundation
import Logging

/// A fault a test can switch on in a service, each breaking one of the catalog's guarantees on purpose,
/// so that the fault-injection checker (infra/faults) can prove that it notices. Never in production:
/// see `TestFaults`.
public enum TestFault: String, CaseIterable, Sendable, Comparable {
    /// command-api: SIGKILL right after a command's PostgreSQL commit, before its outbox intent is marked.
    case killAfterCommit = "kill-after-commit"
    /// command-api: the outbox relay marks every second fence it delivers as delivered without raising it
    /// in Redis (breaks I6).
    case relayDropsFences = "relay-drops-fences"
    /// query-api: reads are routed and looked up in the cache as if they carried no Consistency-Token
    /// (breaks I4).
    case routerIgnoresTokens = "router-ignores-tokens"
    /// query-api: a cache fill stores its view even below the album's fence (breaks I5).
    case fillSkipsFence = "fill-skips-fence"
    /// projections run: about every tenth event that is not an album's first is not applied, though the
    /// checkpoint passes it (breaks I3).
    case projectorSkipsEvent = "projector-skips-event"
    /// command-api: a command is answered before its transaction commits, about 300 ms before (breaks I1).
    case ackBeforeCommit = "ack-before-commit"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The test faults this process runs with, from its environment, read once.
///
/// `CATALOG_TEST_FAULT` names one fault or several separated by commas. A service started with it set
/// refuses to start (`checkAtStartup`) unless `CATALOG_ALLOW_TEST_FAULTS=1` is set too and every name is
/// known; and `active` is empty unless both hold, so a fault point never acts in a process that did not
/// pass that check's conditions.
public enum TestFaults {
    public static let variable = "CATALOG_TEST_FAULT"
    public static let allowVariable = "CATALOG_ALLOW_TEST_FAULTS"

    /// Why a fault configuration is refused.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case notAllowed(names: String)
        case unknown([String])
        case empty

        public var description: String {
            switch self {
            case .notAllowed(let names):
                "\(TestFaults.variable)=\(names) is set, but test faults break the catalog's guarantees on purpose; "
                    + "set \(TestFaults.allowVariable)=1 as well to run with them (never in production), or unset \(TestFaults.variable)"
            case .unknown(let names):
                "\(TestFaults.variable) names unknown test faults: \(names.joined(separator: ", ")) "
                    + "(known: \(TestFault.allCases.map(\.rawValue).sorted().joined(separator: ", ")))"
            case .empty:
                "\(TestFaults.variable) is set but names no fault; unset it, or name faults separated by commas"
            }
        }
    }

    /// The faults `environment` asks for: empty when `CATALOG_TEST_FAULT` is unset, a refusal when it is
    /// set without `CATALOG_ALLOW_TEST_FAULTS=1`, names an unknown fault, or names none.
    public static func parse(_ environment: [String: String]) -> Result<Set<TestFault>, Refusal> {
        guard let text = environment[variable] else { return .success([]) }
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let unknown = names.filter { TestFault(rawValue: $0) == nil }
        if !unknown.isEmpty {
            return .failure(names.allSatisfy(\.isEmpty) ? .empty : .unknown(unknown.map { $0.isEmpty ? "(empty name)" : $0 }))
        }
        guard environment[allowVariable] == "1" else { return .failure(.notAllowed(names: text)) }
        return .success(Set(names.compactMap(TestFault.init(rawValue:))))
    }

    /// This process's configuration, parsed once.
    public static let configuration = parse(ProcessInfo.processInfo.environment)

    /// The faults active in this process: empty unless the configuration is valid and allowed. Fault
    /// points read it once, into static constants of their own.
    public static let active: Set<TestFault> = (try? configuration.get()) ?? []

    /// Whether `fault` is active in this process (for a fault point's static constant).
    public static func isActive(_ fault: TestFault) -> Bool { active.contains(fault) }

    /// What every service with fault points calls first, after bootstrapping its logging and before it
    /// listens: with a refused configuration it writes why to stderr and exits 2; with active faults it
    /// logs one critical line naming them. `here` lists the faults this process has fault points for;
    /// others it is given are accepted (one variable may be set for every service) but marked as inert.
    public static func checkAtStartup(service: String, here: Set<TestFault>, logger: Logger) {
        switch configuration {
        case .failure(let refusal):
            FileHandle.standardError.write(Data("\(service): refusing to start: \(refusal)\n".utf8))
            exit(2)
        case .success(let faults):
            guard let line = startupLine(faults, here: here) else { return }
            logger.critical("\(line)")
        }
    }

    /// The critical line for `faults`, nil when there are none.
    public static func startupLine(_ faults: Set<TestFault>, here: Set<TestFault>) -> String? {
        guard !faults.isEmpty else { return nil }
        let acting = faults.intersection(here).sorted().map(\.rawValue)
        let inert = faults.subtracting(here).sorted().map(\.rawValue)
        var line =
            acting.isEmpty
            ? "TEST FAULTS SET (\(variable)) but none has a fault point in this process"
            : "TEST FAULTS ACTIVE (\(variable)): \(acting.joined(separator: ", ")); "
                + "this process breaks a guarantee on purpose; never run it in production"
        if !inert.isEmpty { line += " (no fault point here for: \(inert.joined(separator: ", ")))" }
        return line
    }
}
