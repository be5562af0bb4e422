import CLibPQ
import Foundation

/// Validated libpq connection parameters plus the session settings this client relies on.
struct ConnectionSettings: Sendable {
    private(set) var keywords: [String] = []
    private(set) var values: [String] = []
    let queryTimeout: Duration

    init(connectionString: String, connectTimeout: Duration, queryTimeout: Duration, applicationName: String) throws(PostgresError) {
        self.queryTimeout = queryTimeout
        var parsed: [(String, String)] = []
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &errorMessage) else {
            // libpq's message may quote the connection string, password included: never pass it on.
            if let errorMessage { PQfreemem(errorMessage) }
            throw PostgresError(code: .invalidConfiguration, message: "the connection string cannot be parsed")
        }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { parsed.append((String(cString: keyword), String(cString: value))) }
            option += 1
        }
        func value(_ key: String) -> String? { parsed.first { $0.0 == key }?.1 }

        let statementMilliseconds = max(1, Int(queryTimeout.components.seconds * 1000 + queryTimeout.components.attoseconds / 1_000_000_000_000_000))
        // Our session settings go after the user's own options so that ours win where they overlap.
        let sessionOptions = [
            value("options") ?? "",
            "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=1 -c client_min_messages=warning",
            "-c statement_timeout=\(statementMilliseconds)",
            "-c idle_in_transaction_session_timeout=\(max(60_000, statementMilliseconds * 2))",
        ].filter { !$0.isEmpty }.joined(separator: " ")
        let connectSeconds = max(2, Int(connectTimeout.components.seconds))
        var merged = parsed.filter { !["options", "client_encoding"].contains($0.0) }
        merged.append(("options", sessionOptions))
        merged.append(("client_encoding", "UTF8"))
        if value("connect_timeout") == nil { merged.append(("connect_timeout", String(connectSeconds))) }
        if value("application_name") == nil { merged.append(("application_name", applicationName)) }
        // Notice a dead peer within seconds rather than the kernel's two hours.
        for (key, fallback) in [("keepalives", "1"), ("keepalives_idle", "5"), ("keepalives_interval", "2"), ("keepalives_count", "3")]
        where value(key) == nil {
            merged.append((key, fallback))
        }
        self.keywords = merged.map(\.0)
        self.values = merged.map(\.1)
    }

    /// Calls `body` with NULL-terminated C arrays of keywords and values, as PQconnectdbParams takes them.
    func withCParameters<Result>(_ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<UnsafePointer<CChar>?>) -> Result) -> Result {
        let cKeywords = keywords.map { strdup($0) }
        let cValues = values.map { strdup($0) }
        defer {
            for pointer in cKeywords { free(pointer) }
            for pointer in cValues { free(pointer) }
        }
        let keywordArray = cKeywords.map { UnsafePointer($0) } + [nil]
        let valueArray = cValues.map { UnsafePointer($0) } + [nil]
        return keywordArray.withUnsafeBufferPointer { k in
            valueArray.withUnsafeBufferPointer { v in body(k.baseAddress!, v.baseAddress!) }
        }
    }
}
