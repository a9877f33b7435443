import AsyncHTTPClient
import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Streaming overhead: a separate-process server (Fixtures/stream-bench-server.py) streams 200 tokens
/// per request; this process measures its own CPU per request (streamed vs the same text unstreamed)
/// and how far the measured time to first token is from the server's own send time of that token.
/// Prints figures; asserts only counts. Run with
/// ```
/// python3 Tests/ChatbotTesterBackendsTests/Fixtures/stream-bench-server.py /tmp/port 200 20 &
/// CT_BENCH=1 CT_BENCH_STREAM_PORT=$(cat /tmp/port) swift test -c release --filter StreamingBenchmark
/// ```
/// (`CT_BENCH_REQUESTS`, default 300).
@Suite("Streaming benchmark", .enabled(if: ProcessInfo.processInfo.environment["CT_BENCH"] == "1"))
struct StreamingBenchmark {
    #if canImport(Glibc)
    static let RUSAGE_SELF_WHO = __rusage_who_t(RUSAGE_SELF.rawValue)
    #else
    static let RUSAGE_SELF_WHO = RUSAGE_SELF
    #endif

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF_WHO, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }

    @Test("client CPU per request and TTFT accuracy against the server's send time, 200 tokens")
    func overhead() async throws {
        let total = Int(ProcessInfo.processInfo.environment["CT_BENCH_REQUESTS"] ?? "") ?? 300
        guard let port = ProcessInfo.processInfo.environment["CT_BENCH_STREAM_PORT"] else {
            Issue.record("start Fixtures/stream-bench-server.py and set CT_BENCH_STREAM_PORT to its port")
            return
        }
        let base = "http://127.0.0.1:\(port)/v1"
        let request = ChatRequest(messages: [.user("stream 200 tokens")])
        for streamed in [false, true] {
            let bot = try await makeChat("openai", ["baseURL": .string(base), "model": "bench", "stream": .bool(streamed)])
            for _ in 0..<5 { _ = try await bot.send(request) }  // warm up the connection pool
            var starts: [Double] = []
            var ttfts: [Double] = []
            let cpuBefore = Self.cpuSeconds()
            let wallBefore = ContinuousClock.now
            for _ in 0..<total {
                let start = Date().timeIntervalSince1970
                let response = try await bot.send(request)
                #expect(!response.content.isEmpty)
                starts.append(start)
                ttfts.append(response.streaming?.timeToFirstTokenMs ?? response.latencyMs ?? 0)
            }
            let cpu = Self.cpuSeconds() - cpuBefore
            let elapsed = ContinuousClock.now - wallBefore
            let wall = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            let times = try await HTTPGet.json("http://127.0.0.1:\(port)/times").arrayValue?.compactMap(\.doubleValue) ?? []
            let sent = Array(times.suffix(total))
            #expect(sent.count == total)
            // How late the client saw the first token, after the server handed it to the kernel.
            let errors = zip(zip(starts, ttfts), sent).map { pair, sentAt in (pair.0 + pair.1 / 1000 - sentAt) * 1000 }
            print(
                String(
                    format: "streaming bench (%@, 200 tokens, %d requests): client CPU %.3f ms/request, wall %.2f ms/request; "
                        + "TTFT p50 %.2f ms; TTFT − server send time: p50 %.3f ms, p99 %.3f ms, max %.3f ms",
                    streamed ? "stream" : "no stream", total, cpu * 1000 / Double(total), wall / Double(total),
                    Self.percentile(ttfts, 0.5), Self.percentile(errors, 0.5), Self.percentile(errors, 0.99), errors.max() ?? 0))
        }
    }
}

/// A plain GET through the backends' HTTP client (the benchmark reads the server's send times).
enum HTTPGet {
    static func json(_ url: String) async throws -> JSONValue {
        let client = BuiltinBackends.sharedHTTPClient
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        return try JSONByteParser.parse(body.readableBytesView)
    }
}
