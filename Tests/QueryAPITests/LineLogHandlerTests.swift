import Logging
import Testing

@testable import CatalogCLI

@Suite struct LineLogHandlerTests {
    @Test func linesReadAsStreamLogHandlerWritesThem() {
        let line = LineLogHandler.line(
            time: "2026-12-02T17:30:39+0000",
            level: .warning,
            label: "query-api",
            metadata: ["request.id": "abc", "hb.request.id": "7", "a": "x y"],
            source: "QueryAPI",
            message: "redis unavailable"
        )
        #expect(line == "2026-12-02T17:30:39+0000 warning query-api: a=x y hb.request.id=7 request.id=abc [QueryAPI] redis unavailable\n")
        let bare = LineLogHandler.line(time: "t", level: .info, label: "", metadata: [:], source: "S", message: "m")
        #expect(bare == "t info: [S] m\n")
    }

    @Test func metadataSetOnALoggerIsKeptAndReadBack() {
        var logger = Logger(label: "test") { LineLogHandler(label: $0, metadataProvider: nil) }
        logger[metadataKey: "request.id"] = "r1"
        logger[metadataKey: "request.id"] = "r2"
        #expect(logger[metadataKey: "request.id"] == "r2")
        #expect(logger.handler.metadata == ["request.id": "r2"])
    }

    @Test func theTimestampIsLocalTimeWithItsOffset() {
        let stamp = LineLogHandler.timestamp()
        #expect(stamp.utf8.count == 24)
        #expect(stamp.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}/) != nil)
    }
}
