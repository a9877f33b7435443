import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// `ops/check-imports.py` (run by CI before the build) catches a target that reaches a module
/// through another target instead of declaring it — what SwiftPM's own check lets through.
@Suite struct ImportCheckTests {
    static func fixture(cImports: String, cDependencies: String) throws -> URL {
        let root = try CLITests.temporaryDirectory()
        let manifest = """
            // swift-tools-version:6.0
            import PackageDescription
            let package = Package(name: "fixture", targets: [
                .target(name: "A"),
                .target(name: "B", dependencies: ["A"]),
                .target(name: "C", dependencies: [\(cDependencies)]),
            ])
            """
        try manifest.write(to: root.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        for (target, source) in [("A", "public let a = 1\n"), ("B", "import A\npublic let b = a\n"), ("C", cImports + "\npublic let c = 3\n")] {
            let directory = root.appendingPathComponent("Sources/\(target)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try source.write(to: directory.appendingPathComponent("\(target).swift"), atomically: true, encoding: .utf8)
        }
        return root
    }

    /// Runs the import check on `package` (Core's `ProcessRunner`: reaped with `waitpid`, its
    /// blocking waits off the cooperative pool while the script runs `swift package describe`).
    static func check(_ package: URL) async throws -> (status: Int32, stderr: String) {
        let outcome = try await ProcessRunner.run(
            ["python3", CLITests.repository.appendingPathComponent("ops/check-imports.py").path, package.path], input: Data(),
            environment: nil, directory: nil, timeoutSeconds: 600)
        return (outcome.status, String(decoding: outcome.stderr, as: UTF8.self))
    }

    @Test func anUndeclaredTransitiveImportFails() async throws {
        // C depends on B, which depends on A: importing A from C compiles, but is not declared.
        let bad = try Self.fixture(cImports: "import A\nimport B", cDependencies: #""B""#)
        let result = try await Self.check(bad)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("Sources/C/C.swift:1: target 'C' imports the package's target 'A'"), "\(result.stderr)")
        let good = try Self.fixture(cImports: "import A\nimport B", cDependencies: #""A", "B""#)
        #expect(try await Self.check(good).status == 0)
    }

    @Test func thisRepositoryPasses() async throws {
        let result = try await Self.check(CLITests.repository)
        #expect(result.status == 0, "\(result.stderr)")
    }
}
