import ChatbotTesterCore
import Foundation

/// The mock server's streamed replies: a finished reply cut into the events each provider documents,
/// so a streamed and an unstreamed request get the same answer.
enum MockLLMStream {
    /// Text in pieces of a word and the space after it.
    static func pieces(_ text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        for character in text {
            current.append(character)
            if character == " " || character == "\n" {
                pieces.append(current)
                current = ""
            }
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    /// JSON text in pieces of at most `size` characters (cut anywhere, as providers do).
    static func fragments(_ text: String, size: Int = 8) -> [String] {
        var fragments: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            fragments.append(String(rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        return fragments
    }

    static func event(_ value: JSONValue, name: String? = nil) -> Data {
        var data = Data()
        if let name { data.append(contentsOf: Array("event: \(name)\n".utf8)) }
        data.append(contentsOf: Array("data: ".utf8))
        data.append(JSONWire.encode(value))
        data.append(contentsOf: Array("\n\n".utf8))
        return data
    }

    /// An OpenAI `chat.completion` as `chat.completion.chunk` events: a role chunk, content pieces,
    /// each tool call's id/name then argument fragments (by `index`), a chunk with `finish_reason`,
    /// the usage chunk with empty `choices` when `includeUsage`, and `data: [DONE]`.
    static func openAI(_ reply: JSONValue, includeUsage: Bool) -> [Data] {
        let choice = reply["choices"]?.arrayValue?.first
        let message = choice?["message"]
        func chunk(_ delta: JSONValue, finish: JSONValue = .null) -> Data {
            var value: [String: JSONValue] = [
                "id": reply["id"] ?? "", "object": "chat.completion.chunk", "created": reply["created"] ?? 0, "model": reply["model"] ?? "",
                "choices": [["index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish]],
            ]
            if includeUsage { value["usage"] = .null }
            return event(.object(value))
        }
        var chunks = [chunk(["role": "assistant", "content": ""])]
        // The content chunks differ only in their piece: one is written, and each piece is spliced
        // into its bytes. The same bytes as writing each chunk whole, without sorting each chunk's
        // keys again (a sort whose work, and in a debug build whose allocations, follow the
        // dictionaries' random order: the streamed benchmark's count varied by 7 % between runs).
        let content = pieces(message?["content"]?.stringValue ?? "")
        if !content.isEmpty {
            let template = [UInt8](chunk(["content": ""]))
            let marker = Array(#""content":"""#.utf8)
            guard let at = template.firstRange(of: marker) else { preconditionFailure("a content chunk without its content") }
            let head = template[..<(at.upperBound - 2)]
            let tail = template[at.upperBound...]
            for piece in content {
                var bytes = Array(head)
                JSONByteWriter.writeString(piece, into: &bytes)
                bytes.append(contentsOf: tail)
                chunks.append(Data(bytes))
            }
        }
        for (index, call) in (message?["tool_calls"]?.arrayValue ?? []).enumerated() {
            chunks.append(
                chunk([
                    "tool_calls": [
                        [
                            "index": .int(index), "id": call["id"] ?? "", "type": "function",
                            "function": ["name": call["function"]?["name"] ?? "", "arguments": ""],
                        ]
                    ]
                ]))
            for fragment in fragments(call["function"]?["arguments"]?.stringValue ?? "") {
                chunks.append(chunk(["tool_calls": [["index": .int(index), "function": ["arguments": .string(fragment)]]]]))
            }
        }
        chunks.append(chunk([:], finish: choice?["finish_reason"] ?? "stop"))
        if includeUsage {
            chunks.append(
                event([
                    "id": reply["id"] ?? "", "object": "chat.completion.chunk", "created": reply["created"] ?? 0,
                    "model": reply["model"] ?? "", "choices": [], "usage": reply["usage"] ?? .null,
                ]))
        }
        chunks.append(Data("data: [DONE]\n\n".utf8))
        return chunks
    }

    /// An Anthropic message as its stream: `message_start`, per block `content_block_start` /
    /// `content_block_delta` (`text_delta`, or `input_json_delta` fragments) / `content_block_stop`, a
    /// `ping` after the first block starts, `message_delta` with the stop reason and output tokens,
    /// `message_stop`.
    static func anthropic(_ reply: JSONValue) -> [Data] {
        var start = reply.objectValue ?? [:]
        start["content"] = []
        start["stop_reason"] = .null
        start["stop_sequence"] = .null
        start["usage"] = ["input_tokens": reply["usage"]?["input_tokens"] ?? 0, "output_tokens": 1]
        var events = [event(["type": "message_start", "message": .object(start)], name: "message_start")]
        for (index, block) in (reply["content"]?.arrayValue ?? []).enumerated() {
            let position = JSONValue.int(index)
            if block["type"] == "tool_use" {
                let opening: JSONValue = ["type": "tool_use", "id": block["id"] ?? "", "name": block["name"] ?? "", "input": [:]]
                events.append(event(["type": "content_block_start", "index": position, "content_block": opening], name: "content_block_start"))
                if index == 0 { events.append(event(["type": "ping"], name: "ping")) }
                let json = JSONWire.text(block["input"] ?? [:])
                for fragment in [""] + fragments(json) {
                    events.append(
                        event(
                            ["type": "content_block_delta", "index": position, "delta": ["type": "input_json_delta", "partial_json": .string(fragment)]],
                            name: "content_block_delta"))
                }
            } else {
                events.append(
                    event(["type": "content_block_start", "index": position, "content_block": ["type": "text", "text": ""]], name: "content_block_start"))
                if index == 0 { events.append(event(["type": "ping"], name: "ping")) }
                for piece in pieces(block["text"]?.stringValue ?? "") {
                    events.append(
                        event(
                            ["type": "content_block_delta", "index": position, "delta": ["type": "text_delta", "text": .string(piece)]],
                            name: "content_block_delta"))
                }
            }
            events.append(event(["type": "content_block_stop", "index": position], name: "content_block_stop"))
        }
        events.append(
            event(
                [
                    "type": "message_delta", "delta": ["stop_reason": reply["stop_reason"] ?? "end_turn", "stop_sequence": nil],
                    "usage": ["output_tokens": reply["usage"]?["output_tokens"] ?? 0],
                ], name: "message_delta"))
        events.append(event(["type": "message_stop"], name: "message_stop"))
        return events
    }
}
