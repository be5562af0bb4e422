import EventLog
import Logging
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

/// What a failed command answers, by the event store's error behind it (pure: no cluster).
@Suite struct FailureMappingTests {
    static let logger = Logger(label: "test")

    @Test(arguments: [
        EventStoreError.unavailable("lost"), EventStoreError.timedOut("57014"), EventStoreError.transient("40001"),
    ])
    func whatTheStoreCannotDoNowIs503(_ error: EventStoreError) {
        let (problem, outcome) = CommandService.problem(for: error, logger: Self.logger)
        #expect(problem.status == .serviceUnavailable)
        #expect(outcome == "unavailable")
    }

    @Test func anyOtherErrorIs500AndSaysNothingOfIt() {
        struct Unexpected: Error {}
        let (problem, outcome) = CommandService.problem(for: Unexpected(), logger: Self.logger)
        #expect(problem.status == .internalServerError)
        #expect(problem.detail == "the command was not applied")
        #expect(outcome == "error")
    }
}
