import Logging
import Postgres
import Testing

@testable import CommandAPI

@Suite struct IfMatchTests {
    @Test func readsStarAndListsOfEntityTags() {
        #expect(IfMatch("*") == .anyVersion)
        #expect(IfMatch("  *\t") == .anyVersion)
        #expect(IfMatch(#""3""#) == .oneOf([3]))
        #expect(IfMatch(#" "3" , "12",,"0" "#) == .oneOf([3, 12, 0]))
        // Weak tags, tags that are no version the service writes, an empty tag: well-formed, match nothing.
        #expect(IfMatch(#"W/"3""#) == .oneOf([]))
        #expect(IfMatch(#""x", "-1", "+1", "03", "", "99999999999999999999""#) == .oneOf([]))
        #expect(IfMatch(#"W/"3", "4""#) == .oneOf([4]))
    }

    @Test(arguments: ["", " ", ",", "3", "W/3", "w/\"3\"", "\"3", "3\"", "\"3\" \"4\"", "\"3\";", "*, \"3\"", "**", "\"a\"b\"", "\"tab\t\""])
    func refusesWhatIsNotTheGrammar(_ header: String) {
        #expect(IfMatch(header) == nil, "\(header)")
    }

    @Test func admitsTheVersionsItNames() {
        #expect(IfMatch.anyVersion.admits(7))
        #expect(IfMatch.oneOf([1, 3]).admits(3))
        #expect(!IfMatch.oneOf([1, 3]).admits(2))
        #expect(!IfMatch.oneOf([]).admits(0))
    }
}

/// What a failed command answers, by the error behind it (pure: no cluster).
@Suite struct FailureMappingTests {
    static let logger = Logger(label: "test")

    @Test(arguments: [PostgresError.deadlockDetected, PostgresError.serializationFailure, "53100", "53200", "53300"])
    func aTransientServerErrorIs503(_ sqlState: String) {
        let (problem, outcome) = CommandService.problem(for: PostgresError(code: .server, sqlState: sqlState), logger: Self.logger)
        #expect(problem.status == .serviceUnavailable)
        #expect(outcome == "unavailable")
    }

    @Test func aLostConnectionIs503AndAnUnexpectedServerError500() {
        #expect(CommandService.problem(for: PostgresError(code: .connectionLost), logger: Self.logger).problem.status == .serviceUnavailable)
        let (problem, outcome) = CommandService.problem(for: PostgresError(code: .server, sqlState: "42P01"), logger: Self.logger)
        #expect(problem.status == .internalServerError)
        #expect(outcome == "error")
    }
}
