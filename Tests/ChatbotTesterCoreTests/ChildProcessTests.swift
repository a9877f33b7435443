import ChatbotTesterCore
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Core's spawner of long-running children (cluster workers): exit statuses, signals, the
/// environment, launch failures, and no inherited descriptor beyond stdout and stderr.
@Suite struct ChildProcessTests {
    /// A pipe whose write end is inheritable (no close-on-exec), as SwiftNIO's sockets are.
    static func inheritablePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw ChatbotTesterError(.io, "pipe: \(errno)") }
        return (fds[0], fds[1])
    }

    /// Whether `fd` reads end of file within `seconds` (false: still held open somewhere).
    static func seesEndOfFile(_ fd: Int32, within seconds: Double) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let ready = poll(&poller, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000)))
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { return false }
            var byte: UInt8 = 0
            return read(fd, &byte, 1) == 0
        }
        return false
    }

    /// The regression behind a flaky CI run: a test server's connection, inheritable and closed by
    /// this process, sent its client no end of file while a worker started by `uv_spawn` (which
    /// closes nothing) lived. A child started here holds nothing of ours open.
    @Test func aChildHoldsNoDescriptorOfOursOpen() async throws {
        let (readEnd, writeEnd) = try Self.inheritablePipe()
        defer { close(readEnd) }
        let child = try ChildProcess.spawn(executable: "sleep", arguments: ["20"])
        close(writeEnd)
        #expect(Self.seesEndOfFile(readEnd, within: 5), "the child kept the write end of our pipe open")
        child.kill(SIGKILL)
        let end = await child.waitForExit()
        #expect(end == ProcessRunner.Termination(status: SIGKILL, signalled: true))
        #expect(child.hasExited)
    }

    @Test func exitStatusEnvironmentAndStdinOfDevNull() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out").path
        // The environment is exactly the one given; stdin reads nothing.
        let child = try ChildProcess.spawn(
            executable: "/bin/sh", arguments: ["-c", "printf '%s|%s|%s' \"$ONLY\" \"${HOME-unset}\" \"$(cat)\" > \(out); exit 7"],
            environment: ["ONLY": "one", "PATH": "/usr/bin:/bin"])
        let end = await child.waitForExit()
        #expect(end == ProcessRunner.Termination(status: 7, signalled: false))
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "one|unset|")
        // Signalling a reaped child does nothing (its pid may be another process's by now).
        child.kill(SIGKILL)
        #expect(child.termination == end)
    }

    @Test func aMissingProgramIsALaunchError() {
        #expect(throws: ProcessRunner.LaunchError.self) {
            _ = try ChildProcess.spawn(executable: "/nonexistent/chatbot-tester-worker", arguments: [])
        }
    }
}
