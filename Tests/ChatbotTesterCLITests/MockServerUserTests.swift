import ChatbotTester
import ChatbotTesterTesting
import Foundation
import Testing

/// `chatbot-tester mock-server` serves a user without privileges, as the image's non-root user
/// and docker-compose's mock service run it. (It once set TCP_NODELAY with NIO's socket-level
/// option — `SO_DEBUG` at `SOL_SOCKET`, which needs CAP_NET_ADMIN — so every connection of a
/// non-root server was closed unanswered, while tests running as root passed.)
@Suite struct MockServerUserTests {
    static let setpriv = "/usr/bin/setpriv"

    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: setpriv), "needs root to drop to another user"))
    func aMockServerStartedAsNobodyAnswersATestRun() async throws {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.setpriv)
        server.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", CLITests.binary.path, "mock-server", "--port", "0"]
        let out = Pipe()
        server.standardOutput = out
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            _ = ChildExit.wait(for: server)
        }
        // The first line names the port the server took.
        let firstLine = Task.detached { () -> String in
            var bytes: [UInt8] = []
            let handle = out.fileHandleForReading
            while let byte = try? handle.read(upToCount: 1)?.first, byte != UInt8(ascii: "\n") { bytes.append(byte) }
            return String(decoding: bytes, as: UTF8.self)
        }
        let line = await firstLine.value
        let match = try #require(line.firstMatch(of: /http:\/\/127\.0\.0\.1:(\d+)/), "no address in \(line)")
        let port = String(match.1)

        let directory = try CLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
            name: nobody-mock
            backends:
              bot: {type: openai, baseURL: "http://127.0.0.1:\(port)/v1", model: mock, apiKey: {env: MOCK_KEY, optional: true}}
            dataset: cases.jsonl
            evaluate:
              metrics:
                - {type: contains, name: echoed, value: "hello"}
            """.write(to: directory.appendingPathComponent("job.yaml"), atomically: true, encoding: .utf8)
        try (1...3).map { #"{"id":"c\#($0)","input":"hello \#($0)"}"# }.joined(separator: "\n")
            .write(to: directory.appendingPathComponent("cases.jsonl"), atomically: true, encoding: .utf8)

        let result = try await CLITests.run(["test", "job.yaml", "--out", "out", "--no-progress"], directory: directory)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let results = try String(contentsOf: directory.appendingPathComponent("out/results.jsonl"), encoding: .utf8)
        #expect(results.split(separator: "\n").count == 3)
        #expect(!results.contains(#""status":"error""#))
    }
}
