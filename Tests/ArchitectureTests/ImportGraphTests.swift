import Foundation
import Testing

/// The module graph of docs/architecture.md (its table, read from the file), checked against the code:
/// which of our modules each module imports (read from its sources), and what Package.swift lets it
/// depend on. Pure: reads files only.
@Suite struct ImportGraphTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Of our modules, what each may import: the table of docs/architecture.md, whose rows read
    /// `` | `Module` | job | Name, Name | `` (or `nothing`), a cell naming several modules applying to each.
    static let allowed: [String: Set<String>] = {
        guard let text = try? String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8) else { return [:] }
        var table: [String: Set<String>] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, let last = cells.last else { continue }
            let modules = cells[0].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "` ")) }
            let imports = last == "nothing" ? [] : Set(last.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            for module in modules { table[module] = imports }
        }
        return table
    }()

    /// The read side: modules that must not depend on the event log, directly or through another module.
    static let readSide = ["ReplicaRouting", "ReadModel", "HotViews", "QueryAPI"]

    static func modules() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Sources").path).filter { !$0.hasPrefix(".") }.sorted()
    }

    static func swiftFiles(in directory: URL) -> [URL] {
        let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return files.filter { $0.pathExtension == "swift" }.sorted { $0.path < $1.path }
    }

    /// The modules a file imports, from its `import` lines: `import X`, `import X.Y`, with attributes
    /// (`@testable`, `@preconcurrency`) and access levels before it, and `import struct X.Y` and the other kinds.
    static func imports(of file: URL) throws -> Set<String> {
        let prefixes: Set<Substring> = ["public", "package", "internal", "fileprivate", "private"]
        let kinds: Set<Substring> = ["typealias", "struct", "class", "enum", "protocol", "let", "var", "func"]
        var names: Set<String> = []
        for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n") {
            var words = line.split(separator: " ")[...]
            while let first = words.first, first.hasPrefix("@") || prefixes.contains(first) { words = words.dropFirst() }
            guard words.first == "import" else { continue }
            words = words.dropFirst()
            if let kind = words.first, kinds.contains(kind) { words = words.dropFirst() }
            guard let path = words.first else { continue }
            names.insert(String(path.split(separator: ".")[0]))
        }
        return names
    }

    /// Our modules a module's sources import.
    static func ourImports(of module: String, among ours: Set<String>) throws -> Set<String> {
        var found: Set<String> = []
        for file in swiftFiles(in: root.appendingPathComponent("Sources/\(module)")) { found.formUnion(try imports(of: file)) }
        return found.intersection(ours).subtracting([module])
    }

    @Test func everyModuleIsInTheTable() throws {
        #expect(Set(try Self.modules()) == Set(Self.allowed.keys))
    }

    @Test func theImportParserSeesEveryFormOfImport() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("imports-\(UUID()).swift")
        defer { try? FileManager.default.removeItem(at: file) }
        let forms = [
            "import A", "@testable import B", "@preconcurrency internal import C", "private import D.Sub", "import struct E.Type",
            "public import F", "// import G", "let importer = 1",
        ]
        try forms.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        #expect(try Self.imports(of: file) == ["A", "B", "C", "D", "E", "F"])
    }

    @Test func eachModuleImportsOnlyWhatTheTableAllows() throws {
        let ours = Set(try Self.modules())
        for module in ours.sorted() {
            let extra = try Self.ourImports(of: module, among: ours).subtracting(Self.allowed[module] ?? [])
            #expect(extra.isEmpty, "\(module) imports \(extra.sorted()), which docs/architecture.md does not allow")
        }
    }

    @Test func theReadSideNeverReachesTheEventLog() throws {
        for module in Self.readSide {
            var seen: Set<String> = []
            var next = [module]
            while let current = next.popLast() {
                for dependency in Self.allowed[current] ?? [] where seen.insert(dependency).inserted { next.append(dependency) }
            }
            #expect(!seen.contains("EventLog"), "\(module) reaches EventLog through \(seen.sorted())")
        }
    }

    @Test func routeHandlersNeverImportADatabaseClient() throws {
        for service in ["CommandAPI", "QueryAPI"] {
            for file in Self.swiftFiles(in: Self.root.appendingPathComponent("Sources/\(service)/Routes")) {
                let clients = try Self.imports(of: file).intersection(["Postgres", "Redis", "CLibPQ", "CHiredis"])
                #expect(clients.isEmpty, "\(service)/Routes/\(file.lastPathComponent) imports \(clients.sorted())")
            }
        }
        // The command service learns failures from the event store's own errors, not from SQLSTATEs.
        let service = Self.root.appendingPathComponent("Sources/CommandAPI/CommandService.swift")
        #expect(!(try Self.imports(of: service)).contains("Postgres"))
    }

    @Test func theTestHarnessIsReachableOnlyFromTests() throws {
        for module in try Self.modules() {
            let imported = try Self.ourImports(of: module, among: ["ClusterHarness", "Testing", "XCTest"])
            #expect(imported.isEmpty, "\(module) imports \(imported.sorted())")
        }
        for (target, dependencies) in try Self.packageDependencies() where !target.hasSuffix("Tests") && target != "ClusterHarness" {
            #expect(!dependencies.contains("ClusterHarness"), "Package.swift: \(target) depends on ClusterHarness")
        }
    }

    /// Every import of ours is a declared dependency in Package.swift: no module leans on one that only
    /// happens to be built for another.
    @Test func packageSwiftDeclaresEveryImport() throws {
        let declared = try Self.packageDependencies()
        let ours = Set(try Self.modules())
        for module in ours.sorted() {
            guard let dependencies = declared[module] else {
                Issue.record("Package.swift has no target \(module)")
                continue
            }
            let undeclared = try Self.ourImports(of: module, among: ours).subtracting(dependencies)
            #expect(undeclared.isEmpty, "\(module) imports \(undeclared.sorted()) without declaring it in Package.swift")
        }
    }

    /// Package.swift's targets and the quoted names in their `dependencies:` lists (targets, and products
    /// with their packages), read from its text: a target is `.target(name: "X", ...)` or another kind of
    /// target, up to the next one.
    static func packageDependencies() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let declaration = try Regex(#"\.(target|executableTarget|testTarget|systemLibrary)\(\s*name: "([^"]+)""#)
        let starts = text.matches(of: declaration)
        var result: [String: Set<String>] = [:]
        for (offset, start) in starts.enumerated() {
            let name = String(start.output[2].substring ?? "")
            let end = offset + 1 < starts.count ? starts[offset + 1].range.lowerBound : text.endIndex
            let body = text[start.range.upperBound..<end]
            var names: Set<String> = []
            if let list = body.range(of: "dependencies: [") {
                var depth = 1
                var index = list.upperBound
                while index < body.endIndex, depth > 0 {
                    if body[index] == "[" { depth += 1 }
                    if body[index] == "]" { depth -= 1 }
                    index = body.index(after: index)
                }
                let quoted = body[list.upperBound..<index].split(separator: "\"", omittingEmptySubsequences: false)
                names = Set(quoted.enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) })
            }
            result[name] = names
        }
        return result
    }
}
