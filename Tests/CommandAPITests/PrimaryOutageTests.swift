import ClusterHarness
import EventStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Postgres
import Testing

@testable import CommandAPI

@Suite struct PrimaryOutageTests {
    @Test func commandsGet503WithRetryAfterWhileThePrimaryIsDownAndSucceedAfterItsBack() async throws {
        let cluster = try await ScratchCluster(name: "command-outage", postgresPort: 25580, redisPort: 26384, replicas: 0)
        var owner = PostgresClient.Configuration(connectionString: try cluster.value("CATALOG_MIGRATOR_PRIMARY"))
        owner.poolSize = 1
        try await Migrations.migrate(try PostgresClient(configuration: owner))
        var settings = CommandAPISettings(primary: try cluster.value("CATALOG_PRIMARY"))
        settings.connectTimeout = .seconds(2)
        settings.queryTimeout = .seconds(2)
        let app = try buildApplication(settings, logger: Logger(label: "command-api-test"))
        try await app.test(.router) { client in
            #expect(try await client.send(.post, "/albums", json: kindOfBlue).status == .created)
            try await cluster.run("stop", "primary")
            for _ in 0..<3 {
                let started = ContinuousClock.now
                let reply = try await client.send(.post, "/albums", json: kindOfBlue)
                #expect(reply.status == .serviceUnavailable, "\(reply.text)")
                #expect(reply.headers[.retryAfter] == "1")
                #expect(!reply.text.contains("password"))
                #expect(!reply.text.contains("127.0.0.1"))
                #expect(ContinuousClock.now - started < .seconds(5))
            }
            #expect(try await client.send(.get, "/health/ready").status == .serviceUnavailable)
            try await cluster.run("start", "primary")
            #expect(try await client.send(.post, "/albums", json: kindOfBlue).status == .created)
            #expect(try await client.send(.get, "/health/ready").status == .ok)
        }
        await cluster.destroy()
    }
}
