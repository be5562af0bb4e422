import ArgumentParser
import Foundation
import Logging

/// What the catalog's executables do the same way at start.
public enum ServiceSetup {
    /// Logs to stderr at `level` (else $LOG_LEVEL, else info).
    public static func bootstrapLogging(level: String?) {
        let level = Logger.Level(rawValue: level ?? ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info") ?? .info
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// A required setting: the flag's value, else the environment variable's; a usage error naming both
    /// when neither is given.
    public static func required(_ flagValue: String?, flag: String, environment variable: String) throws -> String {
        guard let value = flagValue ?? ProcessInfo.processInfo.environment[variable] else {
            throw ValidationError("give \(flag) or set \(variable)")
        }
        return value
    }

    /// Parses `host:port` (a usage error otherwise).
    public static func parseAddress(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("an address is host:port, e.g. 127.0.0.1:8080")
        }
        return (String(text[..<colon]), port)
    }
}
