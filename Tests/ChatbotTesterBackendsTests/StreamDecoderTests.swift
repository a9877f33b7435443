@testable import ChatbotTesterBackends
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// The incremental parsers and stream assemblers, fed the documented provider shapes split anywhere.
@Suite("Stream decoders: SSE, NDJSON, OpenAI chunks, Anthropic events")
struct StreamDecoderTests {
    let peer = BackendPeer(field: "backends.bot", url: "http://127.0.0.1:1/v1/chat/completions")

    /// Every way of cutting `bytes` into two pieces, plus byte by byte, plus the awkward cuts.
    static func splits(_ bytes: [UInt8]) -> [[[UInt8]]] {
        var all: [[[UInt8]]] = [[bytes], bytes.map { [$0] }, WireFixtures.awkwardPieces(bytes, stride: 5)]
        for cut in 1..<bytes.count { all.append([Array(bytes[..<cut]), Array(bytes[cut...])]) }
        return all
    }

    @Test("SSE: LF, CRLF and CR line ends, comments, multi-line data, split at every byte")
    func serverSentEvents() throws {
        let text = ": keep-alive\r\nevent: first\r\ndata: {\"a\":\r\ndata:1}\r\n\r\ndata:no-space\n\nid: 7\rdata: ü€😀\r\rretry: 10\n\n"
        let expected = [
            ServerSentEvent(event: "first", data: "{\"a\":\n1}"), ServerSentEvent(event: nil, data: "no-space"),
            ServerSentEvent(event: nil, data: "ü€😀"),
        ]
        for pieces in Self.splits(Array(text.utf8)) {
            var parser = ServerSentEventParser()
            var events: [ServerSentEvent] = []
            for piece in pieces { events += try parser.feed(piece) }
            if let last = parser.finish() { events.append(last) }
            #expect(events == expected, "split into \(pieces.count) pieces")
        }
    }

    @Test("SSE: an event over the limit is an error, a last event without a blank line still counts")
    func serverSentEventLimits() throws {
        var parser = ServerSentEventParser(maxEventBytes: 16)
        #expect(throws: ServerSentEventParser.TooLarge.self) { _ = try parser.feed(Array("data: 0123456789abcdefghij\n".utf8)) }
        var open = ServerSentEventParser()
        #expect(try open.feed(Array("data: tail".utf8)).isEmpty)
        #expect(open.finish() == ServerSentEvent(event: nil, data: "tail"))
    }

    @Test("NDJSON: lines however split, CRLF and blank lines dropped, a last line without newline kept")
    func ndjson() throws {
        let text = "{\"delta\":\"Grü\"}\r\n\n  \n{\"delta\":\"ße\"}\n{\"done\":true}"
        for pieces in Self.splits(Array(text.utf8)) {
            var splitter = NDJSONLineSplitter()
            var lines: [String] = []
            for piece in pieces { lines += try splitter.feed(piece).map { String(decoding: $0, as: UTF8.self) } }
            if let last = splitter.finish() { lines.append(String(decoding: last, as: UTF8.self)) }
            #expect(lines == ["{\"delta\":\"Grü\"}", "{\"delta\":\"ße\"}", "{\"done\":true}"])
        }
    }

    @Test("OpenAI: tool_calls deltas assembled by index, the usage chunk with empty choices, [DONE]", .cpuBound)
    func openAIToolCalls() async throws {
        let bytes = try WireFixtures.bytes("openai-tool-calls.stream.txt")
        for pieces in Self.splits(bytes) {
            var decoder = OpenAIStreamDecoder(peer: peer)
            var deltas = 0
            for piece in pieces { deltas += try decoder.feed(piece) }
            let response = try decoder.finish()
            #expect(response.toolCalls.count == 2)
            #expect(response.toolCalls.first == ToolCall(id: "call_7Hq2weather", name: "get_weather", arguments: ["location": "München", "unit": "celsius"]))
            #expect(response.toolCalls.last == ToolCall(id: "call_9Kx4time", name: "get_time", arguments: ["tz": "Europe/Berlin"]))
            #expect(response.content == "")
            #expect(response.finishReason == "tool_calls")
            #expect(response.usage == Usage(promptTokens: 82, completionTokens: 41))
            #expect(response.model == "gpt-4o-2024-08-06")
            #expect(deltas == 8, "2 opening fragments + 6 argument fragments")
            #expect(decoder.done)
        }
    }

    @Test("OpenAI: content deltas with multi-byte characters cut mid-sequence", .cpuBound)
    func openAIText() async throws {
        let bytes = try WireFixtures.bytes("openai-text.stream.txt")
        for pieces in Self.splits(bytes) {
            var decoder = OpenAIStreamDecoder(peer: peer)
            for piece in pieces { _ = try decoder.feed(piece) }
            let response = try decoder.finish()
            #expect(response.content == "Grüße aus 東京 🌧️ — it is raining.")
            #expect(response.toolCalls.isEmpty)
            #expect(response.finishReason == "stop")
            #expect(response.usage?.completionTokens == 7)
        }
    }

    @Test("OpenAI: a parallel batch that reuses index 0 with new ids gives separate calls; bad arguments stay text")
    func openAIReusedIndex() throws {
        let stream = """
            data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"one","arguments":"{\\"x\\":1}"}}]}}]}

            data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"two","arguments":"{not json"}}]}}]}

            data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

            data: [DONE]

            """
        var decoder = OpenAIStreamDecoder(peer: peer)
        _ = try decoder.feed(Array(stream.utf8))
        let response = try decoder.finish()
        #expect(response.toolCalls == [ToolCall(id: "a", name: "one", arguments: ["x": 1]), ToolCall(id: "b", name: "two", arguments: .string("{not json"))])
    }

    @Test("OpenAI: a stream cut before [DONE] and before a finish reason is a transient bad response")
    func openAITruncated() throws {
        var bytes = try WireFixtures.bytes("openai-text.stream.txt")
        bytes.removeLast(bytes.count / 3)
        var decoder = OpenAIStreamDecoder(peer: peer)
        _ = try decoder.feed(bytes)
        let error = #expect(throws: ChatbotTesterError.self) { _ = try decoder.finish() }
        #expect(error?.code == .badResponse)
        #expect(error?.retry == .transient)
        var failing = OpenAIStreamDecoder(peer: peer)
        let streamed = #expect(throws: ChatbotTesterError.self) {
            _ = try failing.feed(Array("data: {\"error\":{\"message\":\"model overloaded\",\"type\":\"server_error\"}}\n\n".utf8))
        }
        #expect(streamed?.message.contains("model overloaded") == true)
    }

    @Test("Anthropic: text_delta and input_json_delta assembled, ping ignored, usage from message_start and message_delta", .cpuBound)
    func anthropicToolUse() async throws {
        let bytes = try WireFixtures.bytes("anthropic-tool-use.stream.txt")
        for pieces in Self.splits(bytes) {
            var decoder = AnthropicStreamDecoder(peer: peer)
            var deltas = 0
            for piece in pieces { deltas += try decoder.feed(piece) }
            let response = try decoder.finish()
            #expect(response.content == "Okay, let me check the weather in München ☀️ for you.")
            #expect(
                response.toolCalls
                    == [ToolCall(id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", name: "get_weather", arguments: ["location": "München", "unit": "celsius"])])
            #expect(response.finishReason == "tool_use")
            #expect(response.usage == Usage(promptTokens: 472, completionTokens: 89))
            #expect(response.model == "claude-sonnet-4-5-20250929")
            #expect(deltas == 3 + 1 + 4, "3 text deltas, the tool_use start, 4 non-empty JSON pieces")
        }
    }

    @Test("Anthropic: an error event fails the call like the same error over HTTP (overloaded = 529, transient)")
    func anthropicErrorEvent() throws {
        var decoder = AnthropicStreamDecoder(peer: peer)
        let error = #expect(throws: ChatbotTesterError.self) { _ = try decoder.feed(try WireFixtures.bytes("anthropic-overloaded.stream.txt")) }
        #expect(error?.status == 529)
        #expect(error?.code == .http5xx)
        #expect(error?.retry == .transient)
        #expect(error?.message.contains("overloaded_error") == true)
        var limited = AnthropicStreamDecoder(peer: peer)
        let rate = #expect(throws: ChatbotTesterError.self) {
            _ = try limited.feed(Array("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n".utf8))
        }
        #expect(rate?.retry == .rateLimited(retryAfter: nil))
    }

    @Test("stream timing: TTFT from the start to the first token, tokens/s over the generation")
    func measurement() {
        let start = ContinuousClock.now
        var measurement = StreamMeasurement(start: start)
        measurement.record(deltas: 0, at: start + .milliseconds(100))
        measurement.record(deltas: 1, at: start + .milliseconds(250))
        measurement.record(deltas: 2, at: start + .milliseconds(750))
        #expect(measurement.timeToFirstTokenMs == 250)
        #expect(measurement.tokensPerSecond(tokens: nil) == 4, "3 deltas: 2 after the first, in 0.5 s")
        #expect(measurement.tokensPerSecond(tokens: 11) == 20)
        #expect(measurement.timing(completionTokens: nil, chunks: 3) == StreamTiming(timeToFirstTokenMs: 250, tokensPerSecond: 4, chunks: 3))
        #expect(StreamMeasurement(start: start).timing(completionTokens: 5, chunks: 0) == nil)
    }
}
