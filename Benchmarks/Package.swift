// swift-tools-version:6.1
// The benchmark suite (ordo-one/benchmark): a package of its own, so the main build never pulls in
// the benchmark dependency. It depends on the root package by path. See docs/performance.md.
import Foundation
import PackageDescription

/// A path dependency is known by its directory's name, which depends on where the repository was
/// cloned (`main`, a worktree, CI's folder): read it from this manifest's own path.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "chatbot-tester-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ChatbotTesterBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ChatbotTester", package: root),
                .product(name: "ChatbotTesterTesting", package: root),
            ],
            path: "Benchmarks/ChatbotTesterBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
