import ChatbotTesterCluster
import ChatbotTesterClusterPipeline
import ChatbotTesterClusterUV
import ChatbotTesterCore
import Foundation

/// Benchmarks printed as figures (never timed assertions).
enum ClusterBench {
    static func print(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    static var selfPath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// `worker` under `taskset`, its core picked from the slot in the `--worker-id wK-N` the
    /// coordinator appends.
    static var pinnedWorker: ClusterRun.WorkerCommand {
        let script = #"id="$4"; slot=${id#w}; slot=${slot%%-*}; exec taskset -c $(( (slot - 1) % $(nproc) )) "$0" worker "$@""#
        return ClusterRun.WorkerCommand(executable: "/bin/sh", arguments: ["-c", script, selfPath])
    }

    /// Frames/s and MB/s from this process to a `sink` child over a Unix socket.
    static func socket(frames: Int, size: Int) async {
        let directory = NSTemporaryDirectory() + "ctbench-\(getpid())"
        mkdir(directory, 0o700)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/b.sock"
        await UVLoop.withLoop { loop in
            do {
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let child = try await UVProcess.spawn(executable: selfPath, arguments: ["sink", "--connect", path, "--frames", "\(frames)"], loop: loop)
                guard let connection = await listener.accept() else { fatalError("no sink") }
                let payload = Data(repeating: 0x61, count: size)
                let batch = [Data](repeating: payload, count: 1000)
                let start = ContinuousClock.now
                var sent = 0
                while sent < frames {
                    let n = min(1000, frames - sent)
                    connection.enqueue(n == 1000 ? batch : Array(batch[0..<n]))
                    await connection.waitUntilWritable()
                    sent += n
                }
                let reply = await connection.receive()
                let elapsed = seconds(since: start)
                _ = await child.waitForExit()
                listener.close()
                let received = reply.map { String(decoding: $0, as: UTF8.self) } ?? "?"
                print(String(
                    format: "socket: %d frames of %d bytes in %.3f s: %.2f M frames/s, %.1f MB/s (sink counted %@)",
                    frames, size, elapsed, Double(frames) / elapsed / 1e6, Double(frames * (size + 4)) / elapsed / 1e6, received))
            } catch {
                print("bench-socket failed: \(error)")
            }
        }
    }

    /// The child side of `socket`: counts frames, answers with the count.
    static func sink(path: String, frames: Int) async {
        await UVLoop.withLoop { loop in
            guard let connection = try? await UVPipeConnection.connect(path: path, loop: loop) else { exit(3) }
            var count = 0
            while count < frames, await connection.receive() != nil { count += 1 }
            await connection.send(Data("\(count)".utf8))
            connection.close(reason: nil)
            _ = await connection.receive()
        }
    }

    /// Encode + decode of `records` frames (64 records each) with the JSON codec.
    static func codec(records count: Int) {
        let codec = ClusterMessageCodec()
        let records = (0..<64).map { index -> ClusterRecord in
            let sample = TestSample(id: "s\(index)", input: "What is the refund window for order \(index)?", expected: "30 days")
            let run = RunRecord(sample: sample, target: "bot", transcript: [
                Message(role: .user, content: sample.input!), Message(role: .assistant, content: "Refunds are accepted within 30 days."),
            ], usage: Usage(promptTokens: 12, completionTokens: 8), latencyMs: 120, attempts: 1)
            return ClusterRecord(sampleId: sample.id, index: index, run: run, evals: [
                EvalRecord(sampleId: sample.id, metric: "contains", type: "contains", score: 1, passed: true)
            ])
        }
        let start = ContinuousClock.now
        var done = 0
        var bytes = 0
        while done < count {
            let payload = try! codec.encode(.records(records))
            bytes += payload.count
            _ = try! codec.decode(payload, peer: "bench")
            done += records.count
        }
        let elapsed = seconds(since: start)
        print(String(format: "codec: %d records (64 per frame) encoded+decoded in %.3f s: %.0f records/s, %.1f MB/s", done, elapsed, Double(done) / elapsed, Double(bytes) / elapsed / 1e6))
    }

    /// Samples/s with 1, 2 and 4 workers on a CPU-heavy evaluation and a latency-bound backend.
    ///
    /// With `pin`, worker `k` (1-based) runs on core `(k - 1) % cores` alone (`taskset -c`), so one
    /// worker scores on one core and N workers on N: what CPU-bound work gains per worker.
    static func run(samples count: Int, workerCounts: [Int] = [1, 2, 4], pin: Bool = false) async {
        let samples = (0..<count).map { TestSample(id: "b\($0)", input: "question number \($0) about refunds", expected: "refunds") }
        let scenarios: [(String, JSONValue, JSONValue)] = [
            ("cpu-heavy eval (cpuWork 20000)", ["type": "bench-echo"], ["processor": "chat", "target": "bot", "concurrency": 4, "cpuWork": 20000]),
            ("latency-bound backend (50 ms, concurrency 4/worker)", ["type": "bench-echo", "delayMs": 50], ["processor": "chat", "target": "bot", "concurrency": 4]),
        ]
        for (name, backend, job) in scenarios {
            for workers in workerCounts {
                let spool = URL(fileURLWithPath: NSTemporaryDirectory() + "ctbench-run-\(getpid())-\(workers)")
                try? FileManager.default.removeItem(at: spool)
                defer { try? FileManager.default.removeItem(at: spool) }
                do {
                    let spec = try backend.decode(ComponentSpec.self)
                    let setup = ClusterJobSetup(registry: RegistryConfig(["bot": spec]), job: job)
                    let events = EventBus()
                    if ProcessInfo.processInfo.environment["CT_DEBUG"] != nil { events.subscribe(StderrSink()) }
                    let outcome = try await ClusterRun.run(
                        samples: samples, setup: setup,
                        options: .init(
                            workers: workers, spool: spool, workerCommand: pin ? pinnedWorker : .init(executable: selfPath, arguments: ["worker"]),
                            samplesPerShard: 16,
                            // 4 in flight per worker: run.concurrency is the whole run's bound.
                            coordinator: .init(machine: .init(
                                concurrency: 4 * workers, expectedWorkers: workers,
                                prefetch: CoordinatorStateMachine.Configuration.prefetch(concurrency: 4 * workers, workers: workers)))),
                        events: events)
                    print(String(format: "%@: %d workers: %d samples in %.2f s = %.1f samples/s", name, workers, outcome.mergedSamples, outcome.seconds, Double(outcome.mergedSamples) / outcome.seconds))
                } catch {
                    print("\(name) with \(workers) workers failed: \(error)")
                }
            }
        }
    }
}

/// Prints events to stderr (CT_DEBUG=1).
struct StderrSink: EventSink {
    func receive(_ envelope: EventEnvelope) async {
        let text: String
        if let event = envelope.event as? ClusterTesterEvent { text = event.summary } else if let log = envelope.event as? LogEvent { text = log.message } else { text = envelope.kind }
        FileHandle.standardError.write(Data("[event] \(text)\n".utf8))
    }
}
