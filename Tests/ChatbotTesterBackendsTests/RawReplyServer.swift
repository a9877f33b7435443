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
        return try await LoopbackListener.with(serve: { try await server.serve($0) }) { channel in
            server.channel.withLock { $0 = channel }
            return try await body(server)
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
                while let consumed = ReplayServer.complete(buffer)?.consumed {
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
}
