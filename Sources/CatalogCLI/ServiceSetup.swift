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

    /// A setting that may hold a secret (a conninfo or a Redis URL with a password), from the first of:
    /// the flag's value, the file its `-file` flag names, the environment variable, the file the variable
    /// with `_FILE` appended names (as container platforms mount secrets). A file's content is taken
    /// whole, less one trailing line break. Errors name the flag or the file, never the content.
    public static func secret(_ flagValue: String?, file: String?, flag: String, environment variable: String) throws -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let flagValue {
            guard file == nil else { throw ValidationError("give \(flag) or \(flag)-file, not both") }
            return flagValue
        }
        if let file { return try readSecret(file, from: "\(flag)-file") }
        if let value = environment[variable] { return value }
        if let file = environment[variable + "_FILE"] { return try readSecret(file, from: variable + "_FILE") }
        return nil
    }

    /// The same for a setting the program cannot do without: a usage error naming all four when none is given.
    public static func requiredSecret(_ flagValue: String?, file: String?, flag: String, environment variable: String) throws -> String {
        guard let value = try secret(flagValue, file: file, flag: flag, environment: variable) else {
            throw ValidationError("give \(flag), \(flag)-file, \(variable) or \(variable)_FILE")
        }
        return value
    }

    static func readSecret(_ path: String, from source: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the file \(source) names (\(path))")
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw ValidationError("the file \(source) names (\(path)) is not UTF-8")
        }
        // "\r\n" is one Character: one removeLast takes either line break.
        if text.hasSuffix("\r\n") || text.hasSuffix("\n") { text.removeLast() }
        guard !text.isEmpty else { throw ValidationError("the file \(source) names (\(path)) is empty") }
        return text
    }

    /// Parses `host:port` (a usage error otherwise).
    public static func parseAddress(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("an address is host:port, e.g. 127.0.0.1:8080")
        }
        return (String(text[..<colon]), port)
    }
}
