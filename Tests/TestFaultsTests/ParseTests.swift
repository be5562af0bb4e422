import TestFaults
import Testing

@Suite struct TestFaultParseTests {
    @Test func unsetMeansNoFaults() {
        #expect(TestFaults.parse([:]) == .success([]))
        #expect(TestFaults.parse([TestFaults.allowVariable: "1"]) == .success([]))
    }

    @Test func oneNameOrSeveralSeparatedByCommas() {
        let allowed = [TestFaults.allowVariable: "1"]
        #expect(TestFaults.parse(allowed.merging([TestFaults.variable: "fill-skips-fence"]) { $1 }) == .success([.fillSkipsFence]))
        #expect(
            TestFaults.parse(allowed.merging([TestFaults.variable: "relay-drops-fences, ack-before-commit,relay-drops-fences"]) { $1 })
                == .success([.relayDropsFences, .ackBeforeCommit])
        )
        let every = TestFault.allCases.map(\.rawValue).joined(separator: ",")
        #expect(TestFaults.parse(allowed.merging([TestFaults.variable: every]) { $1 }) == .success(Set(TestFault.allCases)))
    }

    /// The checker depends on these names.
    @Test func theNamesAreFixed() {
        #expect(
            Set(TestFault.allCases.map(\.rawValue)) == [
                "kill-after-commit", "relay-drops-fences", "router-ignores-tokens", "fill-skips-fence", "projector-skips-event",
                "ack-before-commit",
            ]
        )
    }

    @Test func withoutTheAllowVariableItIsRefused() {
        #expect(TestFaults.parse([TestFaults.variable: "fill-skips-fence"]) == .failure(.notAllowed(names: "fill-skips-fence")))
        #expect(
            TestFaults.parse([TestFaults.variable: "fill-skips-fence", TestFaults.allowVariable: "yes"])
                == .failure(.notAllowed(names: "fill-skips-fence"))
        )
        #expect(TestFaults.Refusal.notAllowed(names: "x").description.contains("CATALOG_ALLOW_TEST_FAULTS=1"))
        #expect(TestFaults.Refusal.notAllowed(names: "x").description.contains("CATALOG_TEST_FAULT=x"))
    }

    @Test func unknownOrEmptyNamesAreRefused() {
        let allowed = [TestFaults.allowVariable: "1"]
        #expect(TestFaults.parse(allowed.merging([TestFaults.variable: "drop-everything"]) { $1 }) == .failure(.unknown(["drop-everything"])))
        #expect(
            TestFaults.parse(allowed.merging([TestFaults.variable: "fill-skips-fence,Fill-Skips-Fence"]) { $1 })
                == .failure(.unknown(["Fill-Skips-Fence"]))
        )
        #expect(TestFaults.parse(allowed.merging([TestFaults.variable: "fill-skips-fence,"]) { $1 }) == .failure(.unknown(["(empty name)"])))
        #expect(TestFaults.parse(allowed.merging([TestFaults.variable: ""]) { $1 }) == .failure(.empty))
        // Unknown names are refused without the allow variable too.
        #expect(TestFaults.parse([TestFaults.variable: "nope"]) == .failure(.unknown(["nope"])))
        #expect(TestFaults.Refusal.unknown(["nope"]).description.contains("CATALOG_TEST_FAULT"))
    }

    @Test func theStartupLineNamesEachActiveFault() throws {
        #expect(TestFaults.startupLine([], here: [.fillSkipsFence]) == nil)
        let line = try #require(TestFaults.startupLine([.fillSkipsFence, .routerIgnoresTokens], here: [.fillSkipsFence, .routerIgnoresTokens]))
        #expect(line.contains("fill-skips-fence, router-ignores-tokens"))
        #expect(line.contains("breaks a guarantee on purpose"))
        let inert = try #require(TestFaults.startupLine([.fillSkipsFence, .ackBeforeCommit], here: [.ackBeforeCommit]))
        #expect(inert.contains("ack-before-commit;"))
        #expect(inert.contains("no fault point here for: fill-skips-fence"))
    }

    /// The test process itself runs without faults.
    @Test func thisProcessHasNone() {
        #expect(TestFaults.active.isEmpty)
    }
}
