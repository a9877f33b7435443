import AsyncHTTPClient
import ChatbotTesterCore
import Foundation
import NIOCore

@testable import ChatbotTesterStorageS3

/// moto's S3 with IAM authentication on, plus a fault-injecting proxy, started once per test
/// process from `ops/s3-test-server.py`. When it cannot start, tests fail (CI installs moto).
actor S3TestServer {
    static let shared = S3TestServer()

    struct Info: Decodable, Sendable {
        var endpoint: String
        var proxy: String
        var bucket: String
        var region: String
        var accessKeyId: String
        var secretAccessKey: String
        var webIdentityToken: String
        var roleArn: String
    }

    /// One start for every caller (the actor is re-entered while the server boots).
    private var starting: Task<Info, any Error>?
    private var process: Process?
    private var stdin: Pipe?

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func start() async throws -> Info {
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
        self.process = process
        self.stdin = input  // kept open: the server lives as long as this test process
        let reader = output.fileHandleForReading
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

    /// Makes the proxy answer the next `count` requests with `status`/`code`, and resets its counters.
    func injectFaults(count: Int, status: Int = 503, code: String = "SlowDown") async throws {
        let info = try await start()
        var request = HTTPClientRequest(url: info.proxy + "/__fault")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: "{\"count\": \(count), \"status\": \(status), \"code\": \"\(code)\"}"))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 16)
    }

    struct Stats: Decodable {
        var requests: Int
        var faulted: Int
        var forwarded: Int
        var sts: Int
        /// The session token STS handed out last.
        var sessionToken: String
    }

    func stats() async throws -> Stats {
        let info = try await start()
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: info.proxy + "/__stats"), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 16)
        return try JSONDecoder().decode(Stats.self, from: Data(body.readableBytesView))
    }
}

/// A store on the test server under a fresh prefix.
func makeStore(
    through proxy: Bool = false, secret: String? = nil, accessKey: String? = nil, configure: (inout S3Configuration) -> Void = { _ in }
) async throws -> (S3ArtifactStore, S3TestServer.Info) {
    let info = try await S3TestServer.shared.start()
    var configuration = S3Configuration(region: info.region, endpoint: URL(string: proxy ? info.proxy : info.endpoint)!, addressing: .path)
    configuration.baseRetryDelay = 0.01
    configure(&configuration)
    let credentials = AWSCredentials(
        accessKeyId: accessKey ?? info.accessKeyId, secretAccessKey: secret ?? info.secretAccessKey, source: "test")
    let client = S3Client(configuration: configuration, credentials: StaticAWSCredentialsProvider(credentials))
    let store = S3ArtifactStore(location: S3Location(bucket: info.bucket, prefix: "t/\(UUID().uuidString)"), client: client)
    return (store, info)
}

/// Deterministic bytes that differ at every offset (so misplaced parts or ranges show).
func patternData(count: Int, seed: UInt32 = 1) -> Data {
    var data = Data(count: count)
    data.withUnsafeMutableBytes { raw in
        let words = raw.bindMemory(to: UInt32.self)
        var x = seed &* 2_654_435_761 | 1
        for index in 0..<words.count {
            x ^= x << 13
            x ^= x >> 17
            x ^= x << 5
            words[index] = x
        }
        for index in (words.count * 4)..<count { raw[index] = UInt8(truncatingIfNeeded: index) }
    }
    return data
}
