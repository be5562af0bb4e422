import Foundation
import Projections

/// `projections status` as a table, with each projection's recent dead letters below it.
enum StatusTable {
    static func render(_ statuses: [ProjectionStatus]) -> String {
        var rows = [["PROJECTION", "CHECKPOINT", "HEAD", "LAG_EVENTS", "LAG_SECONDS", "LEADER", "STATE", "DEAD_LETTERS"]]
        for status in statuses {
            let leader = status.leader.map { "\($0.name) (\($0.active ? "active" : "gone"), fence \($0.fence))" } ?? "-"
            let state = status.checkpoint == nil ? "never run" : status.halted ? "HALTED" : (status.leader?.active == true ? "running" : "stopped")
            rows.append([
                status.name, status.checkpoint ?? "-", status.head, String(status.lagEvents), String(format: "%.3f", status.lagSeconds),
                leader, state, String(status.deadLetterCount),
            ])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var text = ""
        for row in rows {
            text +=
                row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces) + "\n"
        }
        for status in statuses {
            if let reason = status.haltReason { text += "\n\(status.name) is halted: \(reason)\n" }
            guard status.deadLetterCount > 0 else { continue }
            text += "\n\(status.name): \(status.deadLetterCount) dead letters (latest first):\n"
            for letter in status.deadLetters {
                text += "  \(letter.token)  album \(letter.albumId) v\(letter.version) \(letter.type)"
                text += "\(letter.skipped ? " (skipped)" : ""): \(letter.error)\n"
            }
        }
        return text
    }
}
