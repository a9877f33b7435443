import ChatbotTester
import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// Whole runs over real Unix sockets with worker processes (`cluster-test-host`, which registers
/// its own "test-echo" backend type — so every run here also shows a custom type inside workers).
@Suite(.serialized) struct ClusterRunTests {
    @Test func fourWorkersYieldExactlyTheSingleProcessRecords() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(100)
        let setup = ClusterTestSupport.setup(delayMs: 1)
        let expected = try await ClusterTestSupport.singleProcess(samples, setup: setup)
        let spool = directory.appendingPathComponent("spool")
        let output = directory.appendingPathComponent("out")
        let sink = RecordingClusterSink()
        let events = EventBus()
        events.subscribe(sink)
        let outcome = try await withTimeout(120) {
            try await ClusterRun.run(
                samples: samples, setup: setup, options: ClusterTestSupport.options(workers: 4, spool: spool, output: output), events: events)
        }
        await events.shutdown()
        #expect(outcome.mergedSamples == 100)
        // Progress events are coalesced per worker (at most one per 100 ms), never lost: they
        // add up to every record, all reported before the run's end.
        let reported = sink.events.current
        let added = reported.reduce(0) { if case .progress(_, let added, _, _, _) = $1 { $0 + added } else { $0 } }
        #expect(added == 100)
        let finishedAt = reported.firstIndex { if case .runFinished = $0 { true } else { false } }
        let lastProgress = reported.lastIndex { if case .progress = $0 { true } else { false } }
        #expect(finishedAt != nil && lastProgress != nil && lastProgress! < finishedAt!)
        #expect(outcome.stats.workersJoined >= 1)  // counted, not timed: late workers may find nothing left
        #expect(try ClusterTestSupport.encoded(outcome.records()) == ClusterTestSupport.encoded(expected))
        // The merged files hold the same runs and evals, in dataset order.
        let results = try String(contentsOf: output.appendingPathComponent("results.jsonl"), encoding: .utf8).split(separator: "\n")
        let encoder = JSONCoding.encoder()
        #expect(results.map(String.init) == expected.map { String(decoding: try! encoder.encode($0.run), as: UTF8.self) })
        let evals = try String(contentsOf: output.appendingPathComponent("evals.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(evals.count == expected.flatMap(\.evals).count)
        #expect(try ClusterTestSupport.journalIds(spool).count == 100)
        // The echo came from the custom backend type built inside the workers.
        #expect(try outcome.records()[0].run.output == "bot says: question 0 about refunds")
    }

    /// Several workers on one host each run their cases on their share of its cores, on threads of
    /// their own (`CHATBOT_TESTER_WORKER_THREADS`, set by the coordinator); a lone worker keeps
    /// Swift's pool, a thread per core. The test backend ends each reply with the answering
    /// thread's name.
    @Test func workersStartedTogetherRunOnTheirShareOfTheCores() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(40)
        let setup = ClusterTestSupport.setup(delayMs: 1, reportsThread: true)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        for workers in [1, 2] {
            let outcome = try await withTimeout(120) {
                try await ClusterRun.run(
                    samples: samples, setup: setup,
                    options: ClusterTestSupport.options(workers: workers, spool: directory.appendingPathComponent("spool-\(workers)")), events: EventBus())
            }
            let threads = Set(try outcome.records().map { String($0.run.output?.split(separator: "@").last ?? "") })
            #expect(outcome.mergedSamples == 40)
            let share = ClusterWorkerHost.threadsShare(workers: workers, cores: cores)
            if let share {
                let names: Set<String> = share == 1 ? ["worker"] : Set((0..<share).map { "worker-\($0)" })
                #expect(!threads.isEmpty && threads.isSubset(of: names), "\(workers) workers: \(threads)")
            } else {
                #expect(!threads.contains { $0.hasPrefix("worker") }, "1 worker: \(threads)")
            }
        }
    }

    @Test func killingWorkersMidShardLosesAndDuplicatesNothing() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(150)
        let setup = ClusterTestSupport.setup(delayMs: 20, concurrency: 2)
        let expected = try await ClusterTestSupport.singleProcess(samples, setup: setup)
        let spool = directory.appendingPathComponent("spool")
        // Kill the reporting worker when the run passes 15, 35 and 55 of 150 samples (counted, not
        // timed; the rest leaves room for the event sink's lag on a loaded machine). Progress is
        // reported up to 100 ms late, so a worker already killed may still report: it is not
        // killed twice.
        let pids = Locked<[String: Int]>([:])
        let thresholds = Locked<[Int]>([15, 35, 55])
        let kills = Locked(0)
        let sink = RecordingClusterSink { event in
            switch event {
            case .workerJoined(let id, let pid):
                pids.withLock { $0[id] = pid }
            case .progress(let id, _, let completed, _, _):
                guard pids.current[id] != nil else { return }
                let fire = thresholds.withLock { list -> Bool in
                    guard let next = list.first, completed >= next else { return false }
                    list.removeFirst()
                    return true
                }
                if fire, let pid = pids.withLock({ $0.removeValue(forKey: id) }) {
                    kill(pid_t(pid), SIGKILL)
                    kills.withLock { $0 += 1 }
                }
            default:
                break
            }
        }
        let events = EventBus()
        events.subscribe(sink)
        let outcome = try await withTimeout(180) {
            try await ClusterRun.run(samples: samples, setup: setup, options: ClusterTestSupport.options(workers: 3, spool: spool), events: events)
        }
        await events.shutdown()
        #expect(kills.current == 3)
        #expect(outcome.stats.workersLost >= 3)
        let lost = sink.events.current.filter { if case .workerLost = $0 { true } else { false } }
        #expect(lost.count >= 3)
        let ids = try ClusterTestSupport.journalIds(spool)
        #expect(ids.count == 150)
        #expect(Set(ids).count == 150)
        #expect(try ClusterTestSupport.encoded(outcome.records()) == ClusterTestSupport.encoded(expected))
    }

    @Test func killedCoordinatorResumesOnTheSameSpool() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(200)
        let setup = ClusterTestSupport.setup(delayMs: 25, concurrency: 2)
        let expected = try await ClusterTestSupport.singleProcess(samples, setup: setup)
        let spoolURL = directory.appendingPathComponent("spool")
        let socketDirectory = directory.appendingPathComponent("sock")
        mkdir(socketDirectory.path, 0o700)
        let socket = socketDirectory.appendingPathComponent("c.sock").path
        _ = try ClusterSpool.prepare(at: spoolURL, samples: samples, setup: setup, samplesPerShard: 8)
        let host = ClusterTestSupport.hostPath
        // First life: a coordinator process with two workers, SIGKILLed once 40 records are journaled.
        let journaledBeforeKill: Int = try await withTimeout(120) {
            try await UVLoop.withLoop { loop in
                let coordinator = try await UVProcess.spawn(executable: host, arguments: ["coordinator", "--socket", socket, "--spool", spoolURL.path], loop: loop)
                var workers: [UVProcess] = []
                for index in 0..<2 {
                    workers.append(try await UVProcess.spawn(executable: host, arguments: ["worker", "--connect", socket, "--worker-id", "first-\(index)"], loop: loop))
                }
                while try ClusterTestSupport.journalIds(spoolURL).count < 40 {
                    if coordinator.hasExited { break }
                    try await Task.sleep(nanoseconds: 20_000_000)
                }
                coordinator.kill(SIGKILL)
                let end = await coordinator.waitForExit()
                #expect(end.signal == SIGKILL)
                for worker in workers { _ = await worker.waitForExit() }
                return try ClusterTestSupport.journalIds(spoolURL).count
            }
        }
        #expect(journaledBeforeKill >= 40 && journaledBeforeKill < 200)
        // Second life: same spool, same (now stale) socket path.
        var options = ClusterTestSupport.options(workers: 2, spool: spoolURL)
        options.socketPath = socket
        let resumeOptions = options
        let outcome = try await withTimeout(120) { try await ClusterRun.run(spool: try ClusterSpool.open(at: spoolURL), options: resumeOptions) }
        #expect(outcome.stats.resumed >= journaledBeforeKill)
        let ids = try ClusterTestSupport.journalIds(spoolURL)
        #expect(ids.count == 200)
        #expect(Set(ids).count == 200)
        #expect(try ClusterTestSupport.encoded(outcome.records()) == ClusterTestSupport.encoded(expected))
    }

    @Test func rateLimitedCallsAreGrantedByTheCoordinator() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(40)
        // A generous limit (the test counts grants, it does not time them).
        let setup = ClusterTestSupport.setup(requestsPerMinute: 600_000)
        let outcome = try await withTimeout(120) {
            try await ClusterRun.run(samples: samples, setup: setup, options: ClusterTestSupport.options(workers: 2, spool: directory.appendingPathComponent("spool")))
        }
        #expect(outcome.mergedSamples == 40)
        // Every backend call of every worker drew on the coordinator's one budget.
        #expect(outcome.stats.budgetGrants == 40)
        let unlimited = try await withTimeout(120) {
            try await ClusterRun.run(
                samples: samples, setup: ClusterTestSupport.setup(), options: ClusterTestSupport.options(workers: 2, spool: directory.appendingPathComponent("spool2")))
        }
        #expect(unlimited.stats.budgetGrants == 0)
    }

    @Test func aSpoolForAnotherJobIsRefused() throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = ClusterTestSupport.samples(5)
        _ = try ClusterSpool.prepare(at: directory, samples: samples, setup: ClusterTestSupport.setup())
        #expect(throws: ChatbotTesterError.self) {
            _ = try ClusterSpool.prepare(at: directory, samples: samples, setup: ClusterTestSupport.setup(delayMs: 3))
        }
        #expect(throws: ChatbotTesterError.self) {
            _ = try ClusterSpool.prepare(at: directory.appendingPathComponent("x"), samples: samples + samples, setup: ClusterTestSupport.setup())
        }
    }
}

/// `CHATBOT_TESTER_WORKER_THREADS`: what a worker reads of it, and what a coordinator sets.
@Suite struct WorkerThreadsTests {
    @Test func theVariableIsAWholeNumberFromOneTo1024() throws {
        #expect(try ClusterWorkerHost.threads(environment: [:]) == nil)
        #expect(try ClusterWorkerHost.threads(environment: [ClusterWorkerHost.threadsVariable: "1"]) == 1)
        #expect(try ClusterWorkerHost.threads(environment: [ClusterWorkerHost.threadsVariable: " 8 "]) == 8)
        for bad in ["0", "-1", "two", "", "1025", "1.5"] {
            let error = #expect(throws: ChatbotTesterError.self) { try ClusterWorkerHost.threads(environment: [ClusterWorkerHost.threadsVariable: bad]) }
            #expect(error?.code == .invalidConfig)
            #expect(error?.message.contains(ClusterWorkerHost.threadsVariable) == true)
        }
    }

    /// A value the workers would refuse stops the run before any worker starts: a config error
    /// naming the variable, not worker after worker failing until the restarts are used up.
    @Test func aRunWhoseWorkersWouldRefuseTheirThreadCountStopsAtOnce() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = ClusterTestSupport.options(workers: 2, spool: directory.appendingPathComponent("spool"))
        options.workerCommand.environment = ProcessInfo.processInfo.environment.merging([ClusterWorkerHost.threadsVariable: "many"]) { $1 }
        let run = options
        let error = await #expect(throws: ChatbotTesterError.self) {
            try await withTimeout(30) { try await ClusterRun.run(samples: ClusterTestSupport.samples(4), setup: ClusterTestSupport.setup(), options: run) }
        }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.contains("'many'") == true)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("spool").path))
    }

    @Test func aCoordinatorSharesTheCoresAmongSeveralWorkers() {
        #expect(ClusterWorkerHost.threadsShare(workers: 1, cores: 2) == nil)
        #expect(ClusterWorkerHost.threadsShare(workers: 2, cores: 2) == 1)
        #expect(ClusterWorkerHost.threadsShare(workers: 3, cores: 2) == 1)
        #expect(ClusterWorkerHost.threadsShare(workers: 2, cores: 8) == 4)
        #expect(ClusterWorkerHost.threadsShare(workers: 3, cores: 8) == 2)
    }
}
