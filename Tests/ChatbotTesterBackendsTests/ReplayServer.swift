import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import NIOCore
import NIOPosix
import Testing

/// A loopback HTTP server that replays a fixture body as a provider would send it: the response head,
/// an optional pause, then the body in the given pieces (each its own HTTP chunk, flushed, with a short
/// pause between), so the client sees them as separate reads. It records every request's raw bytes and
/// when (on the test's clock) it sent each piece. Not our mock server: it knows nothing of the formats.
final class ReplayServer: Sendable {
    /// What to answer.
    struct Script: Sendable {
        var status = 200
        var contentType = "text/event-stream"
        var extraHeaders: [(String, String)] = []
        /// The body, in the pieces it is sent in.
        var pieces: [[UInt8]]
        /// Pause after the head, before the first piece.
        var waitAfterHeadersMs = 0
        /// Pause between pieces.
        var gapMs = 2
    }

    /// One received request.
    struct Received: Sendable {
        var head: String
        var body: [UInt8]
        var json: JSONValue? { try? JSONByteParser.parse(body) }
        /// The request line and headers, lower-cased names.
        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() { return parts[1].trimmingCharacters(in: .whitespaces) }
            }
            return nil
        }
    }

    private let script: Script
    private let state = Locked<(requests: [Received], sent: [[ContinuousClock.Instant]])>(([], []))
    private let channel = Locked<(any Channel)?>(nil)

    init(_ script: Script) {
        self.script = script
    }

    var requests: [Received] { state.withLock { $0.requests } }
    /// Per request, when each piece was written and flushed.
    var sendTimes: [[ContinuousClock.Instant]] { state.withLock { $0.sent } }
    var port: Int { channel.withLock { $0?.localAddress?.port } ?? 0 }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Runs `body` with the server listening; always closes it.
    static func with<T: Sendable>(_ script: Script, _ body: (ReplayServer) async throws -> T) async throws -> T {
        let server = ReplayServer(script)
        return try await LoopbackListener.with(serve: { try await server.serve($0) }) { channel in
            server.channel.withLock { $0 = channel }
            return try await body(server)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var buffer: [UInt8] = []
            for try await chunk in inbound {
                buffer += chunk.readableBytesView
                guard let request = Self.complete(buffer) else { continue }
                buffer.removeFirst(request.consumed)
                state.withLock { $0.requests.append(request.received) }
                try await answer(outbound)
                return
            }
        }
    }

    private func answer(_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        var head = "HTTP/1.1 \(script.status) \(script.status == 200 ? "OK" : "Error")\r\ncontent-type: \(script.contentType)\r\n"
        for (name, value) in script.extraHeaders { head += "\(name): \(value)\r\n" }
        head += "transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        try await outbound.write(ByteBuffer(string: head))
        if script.waitAfterHeadersMs > 0 { try await Task.sleep(for: .milliseconds(script.waitAfterHeadersMs)) }
        var times: [ContinuousClock.Instant] = []
        for (position, piece) in script.pieces.enumerated() where !piece.isEmpty {
            if position > 0, script.gapMs > 0 { try await Task.sleep(for: .milliseconds(script.gapMs)) }
            var chunk = ByteBuffer(string: String(piece.count, radix: 16) + "\r\n")
            chunk.writeBytes(piece)
            chunk.writeString("\r\n")
            try await outbound.write(chunk)
            times.append(.now)
        }
        try await outbound.write(ByteBuffer(string: "0\r\n\r\n"))
        state.withLock { $0.sent.append(times) }
    }

    /// A whole request (head and `content-length` body) at the start of `bytes`.
    static func complete(_ bytes: [UInt8]) -> (received: Received, consumed: Int)? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard bytes.count >= 4, let end = (0...(bytes.count - 4)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(separator) }) else {
            return nil
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        var length = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        let bodyStart = end + 4
        guard bytes.count >= bodyStart + length else { return nil }
        return (Received(head: head, body: Array(bytes[bodyStart..<(bodyStart + length)])), bodyStart + length)
    }
}

/// A loopback listener on 127.0.0.1 (any free port, `TCP_NODELAY` on accepted connections) serving each
/// connection with `serve` while `body` runs; closed afterwards whatever happens.
enum LoopbackListener {
    static func with<T: Sendable>(
        serve: @escaping @Sendable (NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws -> Void,
        _ body: (any Channel) async throws -> T
    ) async throws -> T {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        // The server's tasks run on a thread of their own: on the cooperative pool a full test run
        // (2 threads on this machine, often blocked by other suites) could starve the server for
        // longer than a client's 10 s deadline, and the test would see a time-out the client
        // never caused.
        let accepting = Task(executorPreference: DedicatedThreadExecutor.servers) {
            try await listener.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask { try? await serve(connection) }
                    }
                }
            }
        }
        defer { accepting.cancel() }
        do {
            let result = try await body(listener.channel)
            try? await listener.channel.close()
            return result
        } catch {
            try? await listener.channel.close()
            throw error
        }
    }
}

/// Fixture files of documented provider shapes (Tests/ChatbotTesterBackendsTests/Fixtures).
enum WireFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func json(_ name: String) throws -> JSONValue {
        try JSONByteParser.parse(try bytes(name))
    }

    /// `bytes` cut at awkward places: inside every multi-byte UTF-8 character, inside `data:` field
    /// names, right after `data:`, and inside JSON strings — plus every `stride`-th byte.
    static func awkwardPieces(_ bytes: [UInt8], stride: Int = 37) -> [[UInt8]] {
        var cuts = Set<Int>()
        for (index, byte) in bytes.enumerated() {
            if byte >= 0xC0, index + 1 < bytes.count { cuts.insert(index + 1) }  // after a lead byte: mid-character
            if index % stride == 0 { cuts.insert(index) }
        }
        let text = bytes
        for marker in ["data:", "event:", "\"arguments\":\"", "partial_json", "\r\n", "\n\n"] {
            let needle = Array(marker.utf8)
            var start = 0
            while start + needle.count <= text.count {
                if text[start..<(start + needle.count)].elementsEqual(needle) {
                    cuts.insert(start + needle.count / 2)
                    cuts.insert(start + needle.count)
                }
                start += 1
            }
        }
        var pieces: [[UInt8]] = []
        var previous = 0
        for cut in cuts.sorted() where cut > previous && cut < bytes.count {
            pieces.append(Array(bytes[previous..<cut]))
            previous = cut
        }
        pieces.append(Array(bytes[previous...]))
        return pieces
    }
}
