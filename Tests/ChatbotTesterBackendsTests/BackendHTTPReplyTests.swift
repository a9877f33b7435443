import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterBackends

/// The non-streaming reply path (`BackendHTTP.send`): a gzip'd reply is decoded (the client's
/// decompressor stays: it costs nothing measurable on plain replies, docs/performance.md).
@Suite("BackendHTTP: gzip'd replies")
struct BackendHTTPReplyTests {
    /// `{"reply": "gzipped hello gzipped hello … "}` (40 times), gzip'd (573 bytes → 52).
    static let gzipped: [UInt8] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0x2a, 0x4a, 0x2d, 0xc8, 0xa9, 0x54, 0xb2, 0x52,
        0x50, 0x4a, 0xaf, 0xca, 0x2c, 0x28, 0x48, 0x4d, 0x51, 0xc8, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0x18, 0xe5, 0x8d, 0xf2, 0xf0,
        0xf3, 0x94, 0x6a, 0x01, 0x57, 0xfb, 0x96, 0xf1, 0x3d, 0x02, 0x00, 0x00,
    ]

    @Test("a gzip'd reply is decoded")
    func gzip() async throws {
        let script = ReplayServer.Script(
            contentType: "application/json", extraHeaders: [("content-encoding", "gzip")],
            pieces: WireFixtures.awkwardPieces(Self.gzipped, stride: 9), gapMs: 0)
        try await ReplayServer.with(script) { server in
            let bot = try await makeChat("http", ["url": .string(server.baseURL + "/bot"), "body": ["q": "{{input}}"], "replyPath": "$.reply"])
            let response = try await bot.send(ChatRequest(messages: [.user("hi")]))
            #expect(response.content == String(repeating: "gzipped hello ", count: 40))
        }
    }
}
