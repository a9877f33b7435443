import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import Testing

#if os(Linux)
import Glibc

/// The mock server's latency is a floor: a reply never comes before the asked latency, seen by a
/// real client over loopback, and the server's own measure of its holds agrees.
@Suite("Mock server holds")
struct MockServerHoldTests {
    /// Asked latencies (ms), each sent as a `MOCK_LATENCY_MS` directive, one request at a time on one
    /// keep-alive connection: whole and fractional milliseconds, short and longer.
    static let asked: [Double] = [0.25, 1, 2.5, 5, 7.5, 12, 20, 1, 0.5, 3.3, 9, 15, 2, 4, 6, 8]

    @Test("a reply never comes before the asked latency; the server's holds are never shorter than asked")
    func neverEarly() async throws {
        try await withMockLLMServer { server in
            let port = server.port
            // Blocking socket calls on a thread of their own, not on the cooperative pool.
            let elapsed = try await BlockingClient.run { try BlockingClient.timedRequests(port: port, latencies: Self.asked) }
            #expect(elapsed.count == Self.asked.count)
            for (seen, asked) in zip(elapsed, Self.asked) {
                // From just before the request is sent to the reply's last byte read: the server's hold
                // starts after it has read the request, so this is at least its hold.
                #expect(seen >= asked, "reply after \(seen) ms for \(asked) ms asked")
            }
            // A hold is noted once the write's promise completes, which may be just after the client
            // has read the reply: wait (briefly) for the last one.
            let deadline = ContinuousClock.now + .seconds(5)
            while (server.stats.holds?.count ?? 0) < Self.asked.count, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            let holds = try #require(server.stats.holds)
            #expect(holds.count == Self.asked.count)
            #expect(holds.minOvershootMs >= 0)
            #expect(holds.medianOvershootMs >= 0)
            #expect(holds.meanMs >= Self.asked.reduce(0, +) / Double(Self.asked.count))
            #expect(holds.maxOvershootMs >= holds.medianOvershootMs)
        }
    }

    @Test("replies without a latency are not counted as holds")
    func undelayed() async throws {
        try await withMockLLMServer { server in
            let port = server.port
            _ = try await BlockingClient.run { try BlockingClient.timedRequests(port: port, latencies: [nil, nil]) }
            #expect(server.stats.holds == nil)
            #expect(server.stats.requests == 2)
        }
    }
}

/// A plain blocking HTTP/1.1 client: one keep-alive connection, one request at a time.
private enum BlockingClient {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.start()
        }
    }

    /// Sends one chat request per entry (with a `MOCK_LATENCY_MS` directive when not `nil`) and
    /// returns the milliseconds from just before each request is sent to its reply's last byte read.
    static func timedRequests(port: Int, latencies: [Double?]) throws -> [Double] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ChatbotTesterError(.io, "socket() failed") }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw ChatbotTesterError(.io, "connect() failed: errno \(errno)") }
        var results: [Double] = []
        for latency in latencies {
            let prompt = latency.map { "MOCK_LATENCY_MS: \($0) hello" } ?? "hello"
            let body = #"{"model":"m","messages":[{"role":"user","content":"\#(prompt)"}]}"#
            let request = "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
            let bytes = Array(request.utf8)
            // Timed from before the first byte is handed to the kernel: the server cannot have the
            // request whole before that, so the figure is never shorter than its hold. (Read after
            // `send` returns, a client thread descheduled for longer than the hold saw a 0.25 ms reply
            // after 0.055 ms in a CI run.)
            let start = monotonicNanoseconds()
            var sent = 0
            while sent < bytes.count {
                let written = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                guard written > 0 else { throw ChatbotTesterError(.io, "send() failed: errno \(errno)") }
                sent += written
            }
            try readReply(fd)
            results.append(Double(monotonicNanoseconds() - start) / 1_000_000)
        }
        return results
    }

    /// Reads one reply whole (headers, then `content-length` bytes of body).
    private static func readReply(_ fd: Int32) throws {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var needed: Int?
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw ChatbotTesterError(.io, "the connection closed before the reply was whole") }
            received += buffer[..<count]
            if needed == nil, let end = headerEnd(received) {
                let head = String(decoding: received[..<end], as: UTF8.self).lowercased()
                guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                    let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
                else { throw ChatbotTesterError(.io, "no content-length in the reply") }
                needed = end + 4 + length
            }
            if let needed, received.count >= needed { return }
        }
    }

    private static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    private static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
#endif
