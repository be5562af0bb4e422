import Postgres
import Testing

@testable import ReadModel

/// Which database failures a read names for query-api (pure: no cluster).
@Suite struct ReadModelErrorTests {
    @Test func eachFailureAClientIsToldAboutHasItsName() {
        #expect(ReadModelError(PostgresError(code: .connectionLost)) == .noNode)
        #expect(ReadModelError(PostgresError(code: .poolTimeout)) == .noNode)
        #expect(ReadModelError(PostgresError(code: .server, sqlState: PostgresError.queryCanceled)) == .timedOut)
        #expect(ReadModelError(PostgresError(code: .server, sqlState: PostgresError.undefinedTable)) == .notBuilt)
        #expect(ReadModelError(PostgresError(code: .server, sqlState: PostgresError.undefinedColumn)) == .rebuilding)
    }

    @Test func aBugIsNotNamed() {
        #expect(ReadModelError(PostgresError(code: .server, sqlState: PostgresError.insufficientPrivilege)) == nil)
        #expect(ReadModelError(PostgresError(code: .decoding, message: "x")) == nil)
    }

    @Test func aSearchTextIsALiteralInsideTheLikePattern() {
        #expect(Statements.likePattern(#"50%_\"#) == #"%50\%\_\\%"#)
        // Scalar by scalar: a `%` followed by a combining mark is escaped too.
        #expect(Statements.likePattern("%\u{301}_\u{301}").unicodeScalars.elementsEqual("%\\%\u{301}\\_\u{301}%".unicodeScalars))
    }
}
