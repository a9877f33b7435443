import Benchmark

/// The suite's entry point. ordo-one/benchmark's build plugin would generate it; declaring it here
/// spares every build of this package the plugin's tool (see Package.swift). `swift package
/// benchmark` finds the suite by its directory (an executable under `Benchmarks/`), not by the plugin.
@main
enum ChatbotTesterBenchmarksMain: BenchmarkRunnerHooks {
    static func registerBenchmarks() {
        benchmarks()
    }
}
