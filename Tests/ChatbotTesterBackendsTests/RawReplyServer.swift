import ChatbotTesterCore
import Foundation
import NIOCore
import NIOPosix

/// A loopback server that answers each request with scripted raw bytes, to test the client against
/// any reply: hostile ones, replies cut short, connections closed after a reply or held open without
/// one. It counts connections and whole requests (head and `content-length` body) as they arrive.
final class RawReplyServer: Sendable {
    /// What to do for one request.
    struct Answer: Sendable {
        enum Then: Sendable {
            /// Wait for the next request on the same connection.
            case keepOpen
            /// Close the connection.
            case close
            /// Send nothing more and keep the connection open until the client closes it.
            case hang
        }

        /// The reply bytes, in the pieces they are written in (each flushed on its own).
        var pieces: [[UInt8]]
        var then: Then

        init(_ text: String, then: Then = .keepOpen) {
            pieces = [Array(text.utf8)]
            self.then = then
        }

        init(pieces: [[UInt8]], then: Then = .keepOpen) {
            self.pieces = pieces
            self.then = then
        }
    }

    private let answer: @Sendable (Int) -> Answer
    private let state = Locked<(connections: Int, requests: Int, closedByClient: Int)>((0, 0, 0))
    private let channel = Locked<(any Channel)?>(nil)

    /// `answer` gets the index of the request (0, 1, … over all connections).
    init(_ answer: @escaping @Sendable (Int) -> Answer) {
        self.answer = answer
    }

    var connections: Int { state.withLock { $0.connections } }
    var requests: Int { state.withLock { $0.requests } }
    /// Connections the client closed while the server still held them open.
    var closedByClient: Int { state.withLock { $0.closedByClient } }
    var port: Int { channel.withLock { $0?.localAddress?.port } ?? 0 }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Runs `body` with the server listening; always closes it.
    static func with<T: Sendable>(_ answer: @escaping @Sendable (Int) -> Answer, _ body: (RawReplyServer) async throws -> T) async throws -> T {
        let server = RawReplyServer(answer)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        server.channel.withLock { $0 = listener.channel }
        let accepting = Task {
            try await listener.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask { try? await server.serve(connection) }
                    }
                }
            }
        }
        defer { accepting.cancel() }
        do {
            let result = try await body(server)
            try? await listener.channel.close()
            return result
        } catch {
            try? await listener.channel.close()
            throw error
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
        state.withLock { $0.connections += 1 }
        try await connection.executeThenClose { inbound, outbound in
            var buffer: [UInt8] = []
            var hanging = false
            for try await chunk in inbound {
                if hanging { continue }
                buffer += chunk.readableBytesView
                while let consumed = Self.requestLength(buffer) {
                    buffer.removeFirst(consumed)
                    let index = state.withLock { state -> Int in
                        defer { state.requests += 1 }
                        return state.requests
                    }
                    let answer = self.answer(index)
                    for piece in answer.pieces where !piece.isEmpty { try await outbound.write(ByteBuffer(bytes: piece)) }
                    switch answer.then {
                    case .keepOpen: continue
                    case .close: return
                    case .hang: hanging = true
                    }
                    break
                }
            }
            // The client closed the connection.
            state.withLock { $0.closedByClient += 1 }
        }
    }

    /// The length of a whole request (head and `content-length` body) at the start of `bytes`.
    private static func requestLength(_ bytes: [UInt8]) -> Int? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard bytes.count >= 4, let end = (0...(bytes.count - 4)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(separator) }) else {
            return nil
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        var length = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return bytes.count >= end + 4 + length ? end + 4 + length : nil
    }
}
