// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "chatbot-tester",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "ChatbotTester", targets: ["ChatbotTester"]),
        .library(name: "ChatbotTesterCore", targets: ["ChatbotTesterCore"]),
        .library(name: "ChatbotTesterTesting", targets: ["ChatbotTesterTesting"]),
        .executable(name: "chatbot-tester", targets: ["chatbot-tester"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.26.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        // The benchmark suite only (Benchmarks/): no product of this package depends on it, so
        // packages using the library never fetch it.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The Common layer: schemas, registry, backend protocols, middleware, events, artifacts.
        .target(
            name: "ChatbotTesterCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // The HTTP client every backend and the S3 store send through: the own HTTP/1.1 path for
        // plain http (epoll), URLSession (FoundationNetworking, libcurl) for https.
        .target(
            name: "ChatbotTesterHTTP",
            dependencies: [
                "ChatbotTesterCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPCompression", package: "swift-nio-extras"),
                "CEpoll",
            ]
        ),
        // epoll and eventfd (Linux) for the own HTTP/1.1 client.
        .systemLibrary(name: "CEpoll"),
        // Built-in backends over HTTP / exec, and the mock LLM server.
        .target(
            name: "ChatbotTesterBackends",
            dependencies: [
                "ChatbotTesterCore",
                "ChatbotTesterHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "ChatbotTesterGenerator",
            dependencies: ["ChatbotTesterCore", .product(name: "DequeModule", package: "swift-collections")]
        ),
        .target(
            name: "ChatbotTesterRunner",
            dependencies: ["ChatbotTesterCore", .product(name: "DequeModule", package: "swift-collections")]
        ),
        .target(name: "ChatbotTesterEvaluator", dependencies: ["ChatbotTesterCore"]),
        // Job config (YAML/JSON) and the generate → run → evaluate pipeline.
        .target(
            name: "ChatbotTesterPipeline",
            dependencies: [
                "ChatbotTesterCore", "ChatbotTesterGenerator", "ChatbotTesterRunner", "ChatbotTesterEvaluator",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The cluster protocol: wire messages, coordinator and worker state machines, spool. Core only.
        .target(
            name: "ChatbotTesterCluster",
            dependencies: ["ChatbotTesterCore", .product(name: "DequeModule", package: "swift-collections")]
        ),
        .systemLibrary(
            name: "CLibUV",
            pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]
        ),
        // The libuv transport only: loop thread, pipes, spawn, hosts for the protocol's shells.
        .target(name: "ChatbotTesterClusterUV", dependencies: ["ChatbotTesterCluster", "ChatbotTesterCore", "CLibUV"]),
        // Glue: a job config as a cluster job, the shard processor running Runner + Evaluator, local runs with N workers.
        .target(
            name: "ChatbotTesterClusterPipeline",
            dependencies: [
                "ChatbotTesterCore", "ChatbotTesterCluster", "ChatbotTesterClusterUV", "ChatbotTesterPipeline", "ChatbotTesterRunner",
                "ChatbotTesterEvaluator",
            ]
        ),
        // The S3-compatible ArtifactStore: SigV4, multipart, journals as part objects. Core + HTTP client only.
        .target(
            name: "ChatbotTesterStorageS3",
            dependencies: [
                "ChatbotTesterCore",
                "ChatbotTesterHTTP",
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Test and benchmark processors (not part of any product).
        .target(name: "ClusterTestProcessors", dependencies: ["ChatbotTesterCore", "ChatbotTesterCluster"]),
        .target(
            name: "ChatbotTester",
            dependencies: [
                "ChatbotTesterCore", "ChatbotTesterHTTP", "ChatbotTesterBackends", "ChatbotTesterGenerator", "ChatbotTesterRunner",
                "ChatbotTesterEvaluator", "ChatbotTesterPipeline", "ChatbotTesterCluster", "ChatbotTesterClusterUV",
                "ChatbotTesterClusterPipeline", "ChatbotTesterStorageS3",
            ]
        ),
        .target(name: "ChatbotTesterTesting", dependencies: ["ChatbotTesterCore"]),
        // Checks of the hand-written parsers for any input bytes (libFuzzer: ops/fuzz.sh; the corpus: the tests).
        .target(
            name: "ChatbotTesterFuzzing",
            dependencies: [
                "ChatbotTesterCore", "ChatbotTesterCluster", "ChatbotTesterBackends", "ChatbotTesterHTTP", "ChatbotTesterPipeline", "ChatbotTesterEvaluator",
                "ChatbotTesterClusterPipeline",
            ]),
        .executableTarget(name: "chatbot-tester-fuzz", dependencies: ["ChatbotTesterFuzzing"]),
        .executableTarget(
            name: "chatbot-tester",
            dependencies: [
                "ChatbotTester",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "ChatbotTesterCoreTests", dependencies: ["ChatbotTesterCore", "ChatbotTesterTesting"]),
        .testTarget(
            name: "ChatbotTesterFuzzingTests", dependencies: ["ChatbotTesterFuzzing", "ChatbotTesterCore", "ChatbotTesterCluster", "ChatbotTesterTesting"],
            exclude: ["Corpus"]),
        .testTarget(
            name: "ChatbotTesterBackendsTests",
            dependencies: ["ChatbotTesterCore", "ChatbotTesterHTTP", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"), "ChatbotTesterBackends", "ChatbotTesterTesting"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "ChatbotTesterGeneratorTests",
            dependencies: ["ChatbotTesterCore", "ChatbotTesterGenerator", "ChatbotTesterBackends", "ChatbotTesterTesting"]
        ),
        .testTarget(
            name: "ChatbotTesterRunnerTests",
            // cluster-test-host: built for the crash test's child process (runner-crash-child).
            dependencies: ["ChatbotTesterCore", "ChatbotTesterRunner", "ChatbotTesterBackends", "ChatbotTesterTesting", "cluster-test-host"]
        ),
        .testTarget(
            name: "ChatbotTesterEvaluatorTests",
            dependencies: ["ChatbotTesterCore", "ChatbotTesterEvaluator", "ChatbotTesterBackends", "ChatbotTesterTesting"]
        ),
        .testTarget(
            name: "ChatbotTesterPipelineTests",
            dependencies: [
                "ChatbotTester", "ChatbotTesterCore", "ChatbotTesterRunner", "ChatbotTesterPipeline", "ChatbotTesterTesting",
                .product(name: "Yams", package: "Yams"),
            ]),
        .testTarget(
            name: "ChatbotTesterClusterTests",
            dependencies: ["ChatbotTesterCore", "ChatbotTesterCluster", "ChatbotTesterClusterUV", "ChatbotTesterClusterPipeline", "ChatbotTesterPipeline", "ChatbotTesterEvaluator", "CLibUV", "ChatbotTester", "ChatbotTesterTesting", "ClusterTestProcessors", "cluster-test-host"]
        ),
        // Hosts cluster workers/coordinators with its own backend type ("test-echo"), for the cluster tests.
        .executableTarget(name: "cluster-test-host", dependencies: ["ChatbotTesterCluster", "ChatbotTesterClusterUV", "ChatbotTester", "ClusterTestProcessors", "CLibUV"]),
        // The benchmark suite (ordo-one/benchmark; docs/performance.md). In this package, not one of its
        // own, so its build shares every module the tests build (CI builds it once, not twice).
        .executableTarget(
            name: "ChatbotTesterBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "ChatbotTester",
                "ChatbotTesterTesting",
            ],
            // No BenchmarkPlugin: its only output is the suite's entry point, which
            // Benchmarks/ChatbotTesterBenchmarks/Main.swift declares itself, so no build (debug or
            // release, of any product) compiles the plugin's tool and its own argument-parser.
            path: "Benchmarks/ChatbotTesterBenchmarks"
        ),
        // Cluster benchmarks (socket frames/s, codec, samples/s with 1/2/4 workers); no HTTP stack.
        .executableTarget(
            name: "cluster-bench",
            dependencies: [
                "ChatbotTesterClusterUV", "ChatbotTesterCluster", "ChatbotTesterClusterPipeline", "ChatbotTesterCore", "ChatbotTesterPipeline",
                "ClusterTestProcessors",
            ]),
        .testTarget(
            name: "ChatbotTesterStorageS3Tests",
            dependencies: [
                "ChatbotTesterStorageS3", "ChatbotTesterCore", "ChatbotTesterHTTP", "ChatbotTesterTesting",
            ]
        ),
        .testTarget(
            name: "ChatbotTesterCLITests",
            dependencies: ["ChatbotTester", "ChatbotTesterTesting", "chatbot-tester", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
    ]
)
