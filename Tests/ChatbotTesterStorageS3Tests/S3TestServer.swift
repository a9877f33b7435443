import ChatbotTesterCore
import ChatbotTesterHTTP
import Foundation
import ChatbotTesterTesting

@testable import ChatbotTesterStorageS3

/// The proxy's controls on the one moto launcher (`MotoServer`, ChatbotTesterTesting).
extension MotoServer {
    /// Makes the proxy answer the next `count` requests with `status`/`code`, and resets its counters.
    func injectFaults(count: Int, status: Int = 503, code: String = "SlowDown") async throws {
        let info = try await start()
        let request = HTTPRequest(
            .POST, url: info.proxy + "/__fault", body: Data("{\"count\": \(count), \"status\": \(status), \"code\": \"\(code)\"}".utf8))
        _ = try await HTTPClient.shared.send(request, timeout: .seconds(30))
    }

    struct Stats: Decodable, Sendable {
        var requests: Int
        var faulted: Int
        var forwarded: Int
        var sts: Int
        /// The session token STS handed out last.
        var sessionToken: String
    }

    func stats() async throws -> Stats {
        let info = try await start()
        let response = try await HTTPClient.shared.send(HTTPRequest(url: info.proxy + "/__stats"), timeout: .seconds(30))
        return try JSONDecoder().decode(Stats.self, from: response.body)
    }
}

/// A store on the test server under a fresh prefix.
func makeStore(
    through proxy: Bool = false, secret: String? = nil, accessKey: String? = nil, configure: (inout S3Configuration) -> Void = { _ in }
) async throws -> (S3ArtifactStore, MotoServer.Info) {
    let info = try await MotoServer.shared.start()
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
