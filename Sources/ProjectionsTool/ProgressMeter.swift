import CatalogCLI
import Foundation
import Projections
import Synchronization

/// Progress of a rebuild on stderr: a bar redrawn in place when stderr is a terminal, otherwise a plain
/// line every few seconds (logs and CI).
final class ProgressMeter: Sendable {
    private let label: String
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let state = Mutex<(lastDrawn: ContinuousClock.Instant?, lastApplied: Int, drewBar: Bool)>((nil, -1, false))

    init(label: String) {
        self.label = label
    }

    func update(_ progress: Rebuild.Progress) {
        let now = ContinuousClock.now
        let interval: Duration = isTerminal ? .milliseconds(100) : .seconds(2)
        let due = state.withLock { state -> Bool in
            if progress.applied == state.lastApplied { return false }
            if let last = state.lastDrawn, now - last < interval, progress.applied < progress.total { return false }
            state.lastDrawn = now
            state.lastApplied = progress.applied
            state.drewBar = state.drewBar || isTerminal
            return true
        }
        guard due else { return }
        let seconds = max(progress.elapsed.inSeconds, 0.001)
        let rate = Double(progress.applied) / seconds
        let fraction = progress.total > 0 ? min(1, Double(progress.applied) / Double(progress.total)) : 1
        let remaining = rate > 0 ? Double(max(0, progress.total - progress.applied)) / rate : 0
        let figures = "\(progress.applied)/\(progress.total) events, \(Int(rate)) events/s, ETA \(Self.clock(remaining))"
        if isTerminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            write("\r\(label) [\(bar)] \(String(format: "%3d", Int(fraction * 100)))% \(figures)\u{1B}[K")
        } else {
            write("\(label): \(Int(fraction * 100))% \(figures)\n")
        }
    }

    /// Ends the bar's line.
    func finish() {
        if state.withLock({ $0.drewBar }) { write("\n") }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    private static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 3600
            ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60) : String(format: "%d:%02d", total / 60, total % 60)
    }
}
