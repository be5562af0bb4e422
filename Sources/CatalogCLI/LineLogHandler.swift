import Glibc
import Logging

/// The services' log handler: the line format of swift-log's `StreamLogHandler` (`<time> <level> <label>:
/// <key=value ...> [<source>] <message>`, metadata sorted by key), on standard error, but metadata is
/// formatted only when a line is written. `StreamLogHandler` formats all of it again each time a key is
/// set, and every request sets its id (Hummingbird's `hb.request.id`, then the edge's value under that
/// key), while at the default level almost no request writes a line: that formatting was about 5% of a
/// cached read's CPU.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty {
            all.merge(provided) { _, provided in provided }
        }
        if let explicit = event.metadata, !explicit.isEmpty {
            all.merge(explicit) { _, explicit in explicit }
        }
        if let error = event.error {
            all["error.message"] = "\(error)"
            all["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        let line = Self.line(
            time: Self.timestamp(),
            level: event.level,
            label: label,
            metadata: all,
            source: event.source,
            message: event.message.description
        )
        Self.write(line)
    }

    /// The line in one write(2) where the kernel takes it whole (a pipe takes up to 4096 bytes atomically),
    /// so lines of concurrent tasks do not interleave; a short write is continued.
    static func write(_ line: String) {
        var line = line
        line.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    /// One log line, newline included.
    static func line(time: String, level: Logger.Level, label: String, metadata: Logger.Metadata, source: String, message: String) -> String {
        let pretty = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(time) \(level)\(label.isEmpty ? "" : " ")\(label):\(pretty.isEmpty ? "" : " " + pretty) [\(source)] \(message)\n"
    }

    /// Local time as `StreamLogHandler` writes it: 2026-12-02T17:30:39+0000.
    static func timestamp() -> String {
        var now = time(nil)
        var local = tm()
        guard localtime_r(&now, &local) != nil else { return "<unknown>" }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer in
            let count = strftime(buffer.baseAddress!, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
            return String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress, count: count), as: UTF8.self)
        }
    }
}
