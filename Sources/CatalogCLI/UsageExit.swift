import ArgumentParser
import Foundation

extension AsyncParsableCommand {
    /// Parses the arguments and runs the command, as ArgumentParser's `main()` does, except that a usage
    /// error exits 2 (the catalog tools' code, CONTRACT.md) where ArgumentParser would exit 64.
    public static func parseAndRun() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
