import HTTPEdge
import HTTPTypes
import Hummingbird
import ReadModel
import Testing

@testable import QueryAPI

/// What a read that failed answers, by the read model's error (pure: no cluster).
@Suite struct ReadFailureTests {
    typealias Routes = AlbumRoutes<BasicRequestContext>

    @Test(arguments: [ReadModelError.noNode, .tokenNotReached, .timedOut, .notBuilt, .rebuilding])
    func whatTheReadModelCannotDoNowIs503WithRetryAfter(_ error: ReadModelError) {
        let problem = Routes.problem(for: error)
        #expect(problem.status == .serviceUnavailable)
        #expect(problem.headers[.retryAfter] != nil)
    }

    @Test func aTokenNoWriteHadIsTheClientsMistake() {
        let problem = Routes.problem(for: .tokenNeverIssued)
        #expect(problem.status == .badRequest)
        #expect(problem.title == "Invalid Consistency-Token")
    }

    @Test func anyOtherErrorGoesThroughForTheEdgeToAnswer() async {
        struct Unexpected: Error {}
        await #expect(throws: Unexpected.self) { try await Routes.answering(try { () throws -> Int in throw Unexpected() }()) }
        await #expect(throws: Problem.self) { try await Routes.answering(try { () throws -> Int in throw ReadModelError.notBuilt }()) }
    }
}
