import TestFaults

/// query-api's test fault points (see `TestFaults`): off unless the process started with
/// `CATALOG_TEST_FAULT` naming them and `CATALOG_ALLOW_TEST_FAULTS=1`; no request can switch them on.
/// Each is a constant read once. `fill-skips-fence` lives in `ViewCache` (its fill script).
enum FaultPoints {
    /// The faults query-api has points for (its start-up check names them).
    static let here: Set<TestFault> = [.routerIgnoresTokens, .fillSkipsFence]

    /// `router-ignores-tokens` (breaks I4): every read (an album, the list, a history) is routed and looked
    /// up in the cache as if it carried no Consistency-Token. The header is still parsed and a malformed
    /// one still refused (400).
    static let routerIgnoresTokens = TestFaults.isActive(.routerIgnoresTokens)
}
