import ChatbotTesterCore
import Foundation

/// moto's S3 server with IAM authentication on, plus its fault-injecting proxy, started once per
/// test process from `ops/s3-test-server.py` (the one launcher of the S3, CLI and indexed-run
/// tests). When it cannot start, the tests that need it fail, naming the fix (CI installs moto).
///
/// The server lives while its stdin is open: as long as this test process.
public actor MotoServer {
    /// The one server of this test process.
    public static let shared = MotoServer()

    /// What the launcher prints on its first line: where the server listens and how to sign in.
    public struct Info: Decodable, Sendable {
        /// moto's S3 endpoint (`http://127.0.0.1:PORT`).
        public var endpoint: String
        /// The fault-injecting proxy in front of it (`/__fault`, `/__stats`).
        public var proxy: String
        public var bucket: String
        public var region: String
        /// The IAM user's keys (moto checks signatures).
        public var accessKeyId: String
        public var secretAccessKey: String
        /// A web-identity token and role for STS `AssumeRoleWithWebIdentity` (IRSA).
        public var webIdentityToken: String
        public var roleArn: String
    }

    /// One start for every caller (the actor is re-entered while the server boots).
    private var starting: Task<Info, any Error>?
    /// The child and its stdin, kept open for the life of this process.
    private var keep: [Any] = []

    /// The repository's root (this file is `Sources/ChatbotTesterTesting/MotoServer.swift`).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Starts the server on first use; its address and credentials.
    public func start() async throws -> Info {
        if let starting { return try await starting.value }
        let task = Task { try await self.launch() }
        starting = task
        return try await task.value
    }

    private func launch() async throws -> Info {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.repositoryRoot.appendingPathComponent("ops/s3-test-server.py").path]
        let input = Pipe()
        let output = Pipe()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("s3-test-server-\(getpid()).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardInput = input
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        keep = [process, input]
        let reader = output.fileHandleForReading
        // Read off the cooperative pool: the server takes seconds to boot.
        let line: Data = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var data = Data()
                while !data.contains(0x0A) {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    data.append(chunk)
                }
                continuation.resume(returning: data)
            }
        }
        guard let decoded = try? JSONDecoder().decode(Info.self, from: line) else {
            let stderr = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw ChatbotTesterError(
                .internal, "the S3 test server (moto) did not start — install it with pip install 'moto[server]'. Its output: \(stderr.suffix(2000))")
        }
        return decoded
    }
}
