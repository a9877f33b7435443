import CLibUV
import ChatbotTester
import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ClusterTestProcessors
import Foundation

// A worker/coordinator host for the cluster tests. It registers its own backend
// type ("test-echo"), like an SDK user's executable would.
//
//   cluster-test-host worker --connect PATH [--worker-id ID] [--state-dir DIR] [--frames-only] [--refuse-reports]
//   cluster-test-host coordinator --socket PATH --spool DIR
//   cluster-test-host connect-as --uid N --connect PATH      exit 0: refused, 1: welcomed, 2: error
//   cluster-test-host reap-beside-leaks                       exit 0: every ProcessRunner child seen to exit
//   cluster-test-host reap-beside-swallowed-sigchld          exit 0: likewise, with SIGCHLD swallowed
//   cluster-test-host exec-beside-libuv --config PATH         prints `ok error attempts exit` of the run
//   cluster-test-host runner-crash-child --store DIR          journals 2,000 slow cases until killed (CrashResumeTests)

func option(_ name: String, _ arguments: [String]) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("cluster-test-host: \(message)\n".utf8))
    exit(2)
}

var registry = BackendRegistry.builtin()
TestEchoBackend.register(in: &registry)
TestRelayBackend.register(in: &registry)
let arguments = Array(CommandLine.arguments.dropFirst())
let mode = arguments.first ?? ""

switch mode {
case "worker":
    guard let path = option("--connect", arguments) else { fail("worker needs --connect PATH") }
    do {
        let factory = ClusterProcessors.factory(others: ["chat": ChatShardProcessor.factory])
        let exit = try await ClusterWorkerHost.run(
            connect: path, registry: registry,
            // Makes the reports' pieces but will not put them together (the coordinator then does).
            factory: arguments.contains("--refuse-reports") ? RefusingReports.wrapping(factory) : factory,
            options: {
                var options = ClusterWorker.Options(
                    workerId: option("--worker-id", arguments), stateDirectory: option("--state-dir", arguments).map { URL(fileURLWithPath: $0) })
                // Records in frames even when the coordinator offers its journal.
                options.appendsToOfferedJournal = !arguments.contains("--frames-only")
                return options
            }())
        if let failure = exit.failure { fail("worker stopped: \(failure)") }
    } catch {
        fail("\(error)")
    }

case "coordinator":
    guard let path = option("--socket", arguments), let spoolPath = option("--spool", arguments) else {
        fail("coordinator needs --socket PATH --spool DIR")
    }
    do {
        let spool = try ClusterSpool.open(at: URL(fileURLWithPath: spoolPath))
        _ = try await ClusterCoordinatorHost.serve(socketPath: path, spool: spool)
    } catch {
        fail("\(error)")
    }

case "connect-as":
    guard let path = option("--connect", arguments), let uid = option("--uid", arguments).flatMap(UInt32.init) else {
        fail("connect-as needs --uid N --connect PATH")
    }
    let rc = cbt_become(uid, uid)
    guard rc == 0 else { fail("cannot become uid \(uid): \(String(cString: strerror(-rc)))") }
    let welcomed: Bool = await UVLoop.withLoop { loop in
        // The coordinator's uid differs from ours now, so skip our own peer check by connecting raw:
        // we only want to see whether the coordinator talks to us.
        guard let connection = try? await UVPipeConnection.connect(path: path, loop: loop, peerCheck: false) else { return false }
        let hello = try! ClusterMessageCodec().encode(.hello(.init(workerId: "intruder", pid: Int(getpid()))))
        connection.enqueue([hello])
        guard let reply = await connection.receive() else { return false }
        connection.close(reason: nil)
        if case .welcome = try? ClusterMessageCodec().decode(reply, peer: "coordinator") { return true }
        return false
    }
    exit(welcomed ? 1 : 0)

case "reap-beside-leaks":
    exit(await reapBesideLeaks())

case "reap-beside-swallowed-sigchld":
    exit(await reapBesideSwallowedSigchld())

case "exec-beside-libuv":
    guard let config = option("--config", arguments) else { fail("exec-beside-libuv needs --config PATH") }
    do {
        exit(try await execBesideLibuv(config: config))
    } catch {
        fail("\(error)")
    }

case "runner-crash-child":
    // The child the Runner's crash test kills with SIGKILL mid-run: 2,000 cases ("k0"…"k1999", as
    // the test's own `samples(2000, prefix: "k")`), 100 ms each, 4 in flight, every record synced
    // (about 50 s in all; the parent kills it after ~100 records).
    guard let store = option("--store", arguments) else { fail("runner-crash-child needs --store DIR") }
    let samples = (0..<2_000).map { TestSample(id: "k\($0)", input: "question \($0)") }
    do {
        let runner = Runner(
            target: TestEchoBackend(prefix: "answer to ", delayMs: 100), targetName: "bot", options: RunnerOptions(concurrency: 4, syncEvery: 1),
            journal: RunJournal(store: FileArtifactStore(root: URL(fileURLWithPath: store))))
        _ = try await runner.run(SampleSequence(samples)).finish()
    } catch {
        fail("\(error)")
    }

default:
    fail("unknown mode '\(mode)' (worker, coordinator, connect-as, reap-beside-leaks, reap-beside-swallowed-sigchld, exec-beside-libuv, runner-crash-child)")
}
