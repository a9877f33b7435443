import ChatbotTesterClusterUV
import ChatbotTesterCore
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// How the coordinator starts its workers (`UVProcess`): a worker holds no descriptor of the
/// coordinator's open. With libuv's `uv_spawn` each worker kept every inheritable one for its whole
/// life; in the test process that included test servers' connections, which then never ended for
/// their clients (a CI run's "no reply within 10s" where the server had closed the connection).
@Suite struct WorkerSpawnTests {
    @Test func aWorkerHoldsNoDescriptorOfTheCoordinatorOpen() async throws {
        var fds: [Int32] = [-1, -1]
        // Inheritable, as SwiftNIO's sockets are.
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        try await UVLoop.withLoop { loop in
            let worker = try await UVProcess.spawn(executable: "/bin/sleep", arguments: ["20"], loop: loop)
            close(fds[1])
            var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            var ready: Int32 = -1
            repeat { ready = poll(&poller, 1, 5000) } while ready < 0 && errno == EINTR
            var byte: UInt8 = 0
            #expect(ready == 1 && read(fds[0], &byte, 1) == 0, "the worker kept the write end of the coordinator's pipe open")
            #expect(!worker.hasExited)
            worker.kill(SIGKILL)
            let end = await worker.waitForExit()
            #expect(end == UVProcess.Termination(status: 0, signal: SIGKILL))
        }
    }

    @Test func anUnstartableWorkerIsAnErrorNamingTheProgram() async throws {
        await UVLoop.withLoop { loop in
            let error = await #expect(throws: ChatbotTesterError.self) {
                _ = try await UVProcess.spawn(executable: "/nonexistent/worker", arguments: [], loop: loop)
            }
            #expect(error?.message.contains("/nonexistent/worker") == true)
        }
    }
}
