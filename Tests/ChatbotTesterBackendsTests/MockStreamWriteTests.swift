@testable import ChatbotTesterBackends
import ChatbotTesterCore
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// How the mock server hands a streamed reply to its connection: one flushed write per event (as a
/// provider streams), or every event in one flush with `MOCK_STREAM: one-write` — what the streamed
/// allocation benchmark needs so that its client reads the same way on every run.
@Suite("Mock server: streamed writes")
struct MockStreamWriteTests {
    /// Counts the flushes that reach the channel, in front of the mock's handler.
    final class FlushCounter: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = HTTPServerResponsePart
        var flushes = 0
        func flush(context: ChannelHandlerContext) {
            flushes += 1
            context.flush()
        }
    }

    /// Sends one streamed chat request through the mock's handler; returns the flushes and the body.
    private func stream(prompt: String) throws -> (flushes: Int, bodyParts: Int, body: String) {
        let server = MockLLMServer()
        let counter = FlushCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([counter, MockLLMHTTPHandler(server: server)])
        // The handler writes only to an active channel.
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        let body = JSONWire.encode([
            "model": "m", "stream": true, "messages": [["role": "user", "content": .string(prompt)]],
        ])
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/chat/completions")
        head.headers.add(name: "content-type", value: "application/json")
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(bytes: body)))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        var parts = 0
        var text = ""
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            if case .body(.byteBuffer(let buffer)) = part {
                parts += 1
                text += String(buffer: buffer)
            }
        }
        _ = try channel.finish()
        return (counter.flushes, parts, text)
    }

    @Test("by default each event is flushed on its own; MOCK_STREAM: one-write sends the same events in one flush")
    func oneWrite() throws {
        let words = (0..<20).map { "w\($0)" }.joined(separator: " ")
        let flushed = try stream(prompt: "MOCK_REPLY: \(words)")
        let together = try stream(prompt: "MOCK_STREAM: one-write\nMOCK_REPLY: \(words)")
        #expect(together.body == flushed.body)
        #expect(together.body.contains("data: [DONE]"))
        #expect(flushed.bodyParts > 20)
        #expect(together.bodyParts == flushed.bodyParts)
        // The head's flush, one per event, and the end's.
        #expect(flushed.flushes == flushed.bodyParts + 2)
        #expect(together.flushes == 1)
    }

    @Test("the directive is read from its own line and leaves the reply as written")
    func directive() {
        let directive = MockDirective(prompt: "MOCK_STREAM: one-write\nMOCK_REPLY: a b c")
        #expect(directive.streamInOneWrite)
        #expect(directive.reply == "a b c")
        #expect(!MockDirective(prompt: "MOCK_STREAM: flushed\nMOCK_REPLY: a").streamInOneWrite)
        #expect(!MockDirective(prompt: "plain").streamInOneWrite)
    }
}

extension MockStreamWriteTests {
    @Test("content chunks spliced from one written chunk are the bytes of each chunk written whole, escapes included")
    func splicedChunks() throws {
        let text = #"say "hi" \ back\slash"# + "\nnew line\ttab \u{1} end"
        let reply: JSONValue = [
            "id": "chatcmpl-1", "created": 7, "model": "m",
            "choices": [["index": 0, "message": ["role": "assistant", "content": .string(text)], "finish_reason": "stop"]],
        ]
        let events = MockLLMStream.openAI(reply, includeUsage: false)
        var content = ""
        for event in events.dropLast() {
            let bytes = [UInt8](event)
            #expect(bytes.starts(with: Array("data: ".utf8)) && bytes.suffix(2) == [10, 10])
            let json = try JSONWire.parse(Data(bytes.dropFirst(6).dropLast(2)))
            // Written whole, the parsed chunk gives the same bytes (sorted keys, the same escapes).
            #expect([UInt8](JSONWire.encode(json)) == Array(bytes.dropFirst(6).dropLast(2)))
            content += json["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue ?? ""
        }
        #expect(content == text)
        #expect(events.count == MockLLMStream.pieces(text).count + 3)
    }
}
