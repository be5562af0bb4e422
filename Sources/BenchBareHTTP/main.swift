import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import Postgres

// `bench-bare-http`: the baseline of bench/reads. GET /albums/:id answers one fixed album body with the
// headers query-api sends, from a server set up as query-api is (Hummingbird's singleton event loop group,
// one loop per core, installed as the concurrency executor), so the ratio measures only the read behind it.
// With --read-sql it is the second baseline, "bare + the read": GET /albums/:id reads the album with
// the given statement through `PostgresClient.read` (pipelined, as query-api reads) and answers the row's
// document with the same headers, and nothing else: no routing, tokens, cache, metrics or logging. It is
// the least any server on Hummingbird and this client can do for the read, measured beside pgbench.

let usage = """
    usage: bench-bare-http [--address host:port] [--body-file PATH] [--page-body-file PATH] [--etag VALUE] [--as-of TOKEN] [--served-by NODE]
      --address    where to listen (default 127.0.0.1:18090)
      --body-file  the JSON body every GET /albums/:id answers (else $BENCH_BODY)
      --page-body-file  the JSON body GET /albums answers, whatever its query (a list or search page)
      --etag, --as-of, --served-by  the ETag, As-Of and Served-By values to send (defaults "1", 0.0, replica1)
      --read-sql SQL  answer GET /albums/:id with column 5 (the document) of SQL run for the id ($1, a
                   uuid) through the pipelined client, on the database $BENCH_READ_CONNINFO names (an
                   environment variable, so that no password shows in the process list)
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("bench-bare-http: \(message)\n\(usage)\n".utf8))
    exit(2)
}

var options: [String: String] = [:]
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard
        [
            "--address", "--body-file", "--page-body-file", "--etag", "--as-of", "--served-by", "--read-sql",
        ].contains(flag), let value = arguments.popFirst()
    else {
        fail("unknown flag or missing value: \(flag)")
    }
    options[flag] = value
}

let body: String
if options["--read-sql"] != nil {
    body = ""
} else if let path = options["--body-file"] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
    body = text
} else if let text = ProcessInfo.processInfo.environment["BENCH_BODY"] {
    body = text
} else {
    fail("give --body-file or set BENCH_BODY")
}
let address = options["--address"] ?? "127.0.0.1:18090"
guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else { fail("bad --address") }

let bodyBytes = ByteBuffer(string: body)
var fixedHeaders: HTTPFields = [.contentType: "application/json", .eTag: options["--etag"] ?? "\"1\""]
fixedHeaders[HTTPField.Name("As-Of")!] = options["--as-of"] ?? "0.0"
fixedHeaders[HTTPField.Name("Served-By")!] = options["--served-by"] ?? "replica1"
let headers = fixedHeaders
let requestID = HTTPField.Name("Request-Id")!

NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
let router = Router()
if let sql = options["--read-sql"] {
    guard let conninfo = ProcessInfo.processInfo.environment["BENCH_READ_CONNINFO"] else { fail("--read-sql needs $BENCH_READ_CONNINFO") }
    let statement = PostgresStatement(sql, types: [PostgresOID.uuid])
    let client = try PostgresClient(configuration: .init(connectionString: conninfo))
    router.get("/albums/:id") { _, context in
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { return Response(status: .badRequest) }
        let rows = try await client.read(statement(id))
        guard let document = rows.first?.buffer(at: 4) else { return Response(status: .notFound) }
        var fields = headers
        fields[requestID] = RequestIDs.next()
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: document))
    }
} else {
    router.get("/albums/:id") { _, _ in
        var fields = headers
        // query-api gives every answer a new request id; so does the baseline, the same way, to send the
        // same bytes at the same cost.
        fields[requestID] = RequestIDs.next()
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: bodyBytes))
    }
}
if let path = options["--page-body-file"] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
    let pageBytes = ByteBuffer(string: text)
    var pageHeaders = headers
    pageHeaders[.eTag] = nil
    pageHeaders[HTTPField.Name("Cache-Status")!] = "catalog; fwd=bypass"
    let fixedPageHeaders = pageHeaders
    router.get("/albums") { _, _ in
        var fields = fixedPageHeaders
        fields[requestID] = RequestIDs.next()
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: pageBytes))
    }
}
let app = Application(
    router: router,
    configuration: .init(address: .hostname(String(address[..<colon]), port: port), serverName: "bench-bare-http")
)
try await app.runService()
