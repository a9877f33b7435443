import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterCore
import ClusterTestProcessors
import Foundation

// Cluster benchmarks; they print figures, nothing asserts a speed.
//
//   cluster-bench socket [--frames N] [--size BYTES]   frames/s and MB/s to a child over a Unix socket
//   cluster-bench codec [--records N]                   JSON codec of 64-record `records` frames
//   cluster-bench run [--samples N] [--workers 1,2,4] [--pin]
//                                                       samples/s, CPU-heavy eval and latency-bound backend
//                                                       (--pin: worker k on core k-1 alone, taskset)
//   cluster-bench coordinator [--samples N] [--workers W] [--concurrency C]
//                                                       the coordinator alone (in-memory workers): records/s journaled and merged, peak RSS
//   cluster-bench spool [--samples N] [--source file|stream|array]
//                                                       spooling a dataset: time, peak RSS, digests checked on use
//   cluster-bench worker --connect PATH                 (spawned by `run`)
//   cluster-bench sink --connect PATH --frames N        (spawned by `socket`)

func option(_ name: String, _ arguments: [String]) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first ?? "" {
case "worker":
    guard let path = option("--connect", arguments) else { exit(2) }
    let exit = try await ClusterWorkerHost.run(
        connect: path, registry: BenchEchoBackend.registry, factory: ChatShardProcessor.factory,
        options: ClusterWorker.Options(workerId: option("--worker-id", arguments)))
    if exit.failure != nil { Foundation.exit(3) }
case "sink":
    guard let path = option("--connect", arguments), let frames = option("--frames", arguments).flatMap(Int.init) else { exit(2) }
    await ClusterBench.sink(path: path, frames: frames)
case "socket":
    await ClusterBench.socket(
        frames: option("--frames", arguments).flatMap(Int.init) ?? 1_000_000, size: option("--size", arguments).flatMap(Int.init) ?? 68)
case "codec":
    ClusterBench.codec(records: option("--records", arguments).flatMap(Int.init) ?? 50_000)
case "run":
    await ClusterBench.run(
        samples: option("--samples", arguments).flatMap(Int.init) ?? 400,
        workerCounts: option("--workers", arguments).map { $0.split(separator: ",").compactMap { Int($0) } } ?? [1, 2, 4],
        pin: arguments.contains("--pin"))
case "coordinator":
    await CoordinatorBench.run(
        samples: option("--samples", arguments).flatMap(Int.init) ?? 100_000, workers: option("--workers", arguments).flatMap(Int.init) ?? 4,
        concurrency: option("--concurrency", arguments).flatMap(Int.init) ?? 64)
case "spool":
    guard let source = SpoolBench.Source(rawValue: option("--source", arguments) ?? "file") else {
        FileHandle.standardError.write(Data("cluster-bench spool: --source is file, stream or array\n".utf8))
        exit(2)
    }
    await SpoolBench.run(samples: option("--samples", arguments).flatMap(Int.init) ?? 200_000, source: source)
default:
    FileHandle.standardError.write(Data("usage: cluster-bench socket|codec|run|coordinator|spool [options]\n".utf8))
    exit(2)
}
