import CatalogCLI
import Postgres
import Testing

/// Links without verified TLS are refused unless `--plaintext-loopback` allows them, and then only to this
/// machine; libpq reads each conninfo's sslmode and hosts.
@Suite struct PlaintextPolicyTests {
    @Test func libpqTellsWhetherAConninfoVerifiesTheServer() throws {
        let verified = try #require(PostgresTransport(connectionString: "host=db1,db2 port=5432 sslmode=verify-full sslrootcert=/ca.crt"))
        #expect(verified.verifiesServer && verified.hosts == ["db1", "db2"])
        #expect(PostgresTransport(connectionString: "postgresql://u:p@10.0.0.5:5432/catalog?sslmode=verify-ca")?.verifiesServer == true)
        for mode in ["disable", "allow", "prefer", "require"] {
            #expect(PostgresTransport(connectionString: "host=127.0.0.1 sslmode=\(mode)")?.verifiesServer == false, "\(mode)")
        }
        let addressed = try #require(PostgresTransport(connectionString: "host=db.example.org hostaddr=10.1.2.3 sslmode=disable"))
        #expect(addressed.hosts == ["db.example.org", "10.1.2.3"])
        #expect(PostgresTransport(connectionString: "host='unterminated") == nil)
    }

    @Test func plaintextIsRefusedUnlessAllowedAndThenOnlyOnThisMachine() throws {
        let strict = PlaintextPolicy(allowedOnLoopback: false)
        try strict.check("--primary", secure: true, hosts: ["10.0.0.5"])
        try strict.check("--primary", secure: nil, hosts: [])
        let refused = #expect(throws: (any Error).self) { try strict.check("--primary", secure: false, hosts: ["127.0.0.1"]) }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("--plaintext-loopback"))

        let development = PlaintextPolicy(allowedOnLoopback: true)
        for local in [["127.0.0.1"], ["localhost", "127.0.0.2"], ["::1"], ["/var/run/postgresql"]] {
            try development.check("--primary", secure: false, hosts: local)
        }
        for remote in [["10.0.0.5"], ["127.0.0.1", "db.example.org"], ["128.0.0.1"]] {
            let error = #expect(throws: (any Error).self) { try development.check("--redis", secure: false, hosts: remote) }
            #expect("\(error.map { "\($0)" } ?? "")".contains("leaves this machine"), "\(remote)")
        }
    }
}
