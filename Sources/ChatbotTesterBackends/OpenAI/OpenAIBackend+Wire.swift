import ChatbotTesterCore
import Foundation

extension OpenAIBackend {
    /// The request body's bytes, exactly `JSONWire.encode(requestBody(request))`: a plain chat (no
    /// tools, no response format, no `extraBody`, no assistant tool calls) is written straight to
    /// bytes, without a dictionary per message and a key sort per object; anything else goes
    /// through the `JSONValue` (a test compares both).
    func requestBytes(_ request: ChatRequest) -> Data {
        if let bytes = plainRequestBytes(request) { return Data(bytes) }
        return JSONWire.encode(requestBody(request))
    }

    /// The body of a plain chat, members in `JSONByteWriter`'s sorted order; `nil` for any other.
    func plainRequestBytes(_ request: ChatRequest) -> [UInt8]? {
        guard request.tools.isEmpty, extraBody.isEmpty, case .text = request.responseFormat else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(128 + request.messages.reduce(0) { $0 + $1.content.utf8.count + 32 })
        var first = true
        func key(_ name: StaticString) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(contentsOf: #"":"#.utf8)
        }
        // Sorted: max_tokens, messages, model, seed, stop, stream, stream_options, temperature, top_p.
        if let value = request.maxTokens {
            key("max_tokens")
            JSONByteWriter.write(.int(value), into: &out)
        }
        key("messages")
        out.append(UInt8(ascii: "["))
        for (position, message) in request.messages.enumerated() {
            if let calls = message.toolCalls, !calls.isEmpty, message.role == .assistant { return nil }
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"content":"#.utf8)
            JSONByteWriter.writeString(message.content, into: &out)
            out.append(contentsOf: #","role":"#.utf8)
            JSONByteWriter.writeString(message.role.rawValue, into: &out)
            if message.role == .tool {
                out.append(contentsOf: #","tool_call_id":"#.utf8)
                JSONByteWriter.writeString(message.toolCallId ?? "", into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        if endpoint.sendsModel, let model = request.model ?? model {
            key("model")
            JSONByteWriter.writeString(model, into: &out)
        }
        if let value = request.seed {
            key("seed")
            JSONByteWriter.write(.int(value), into: &out)
        }
        if let value = request.stop, !value.isEmpty {
            key("stop")
            JSONByteWriter.write(.array(value.map(JSONValue.string)), into: &out)
        }
        if streams {
            key("stream")
            out.append(contentsOf: "true".utf8)
            key("stream_options")
            out.append(contentsOf: #"{"include_usage":true}"#.utf8)
        }
        if let value = request.temperature {
            key("temperature")
            JSONByteWriter.write(.double(value), into: &out)
        }
        if let value = request.topP {
            key("top_p")
            JSONByteWriter.write(.double(value), into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}

extension OpenAIBackend {
    /// A plain chat reply (`choices[0].message.content` a string, no tool calls) read from its bytes
    /// by the byte scanner, without building the reply's `JSONValue` tree; `nil` for any other
    /// shape, which `parseChat` reads (and explains, when it is wrong). The same response as
    /// `parseChat(JSONWire.decode(body))` (a test compares both).
    static func parsePlainChat(_ body: Data) -> ChatResponse? {
        // One walk over the bytes (each checked once), descending only into the members read; of a
        // repeated name the first counts, as `JSONDecoder` keeps it.
        typealias Scanner = JSONByteScanner
        let quote = UInt8(ascii: "\""), brace = UInt8(ascii: "{")
        var seen = (choices: false, usage: false, model: false)
        var choiceRead = false, messageRead = false, finishSeen = false, contentSeen = false, toolCalls = false
        var content: Range<Int>?, finishReason: Range<Int>?, model: Range<Int>?
        var usage: (prompt: Range<Int>?, completion: Range<Int>?)?
        do {
            try Scanner.walk(body) { top in
                try top.object { value, name in
                    switch name {
                    case "choices" where !seen.choices:
                        seen.choices = true
                        guard value.next == UInt8(ascii: "[") else { return }
                        try value.array { element in
                            guard !choiceRead else { return }
                            choiceRead = true
                            guard element.next == brace else { return }
                            try element.object { member, name in
                                switch name {
                                case "message" where !messageRead:
                                    messageRead = true
                                    guard member.next == brace else { return }
                                    try member.object { field, name in
                                        if name == "tool_calls" { toolCalls = true }
                                        if name == "content", !contentSeen {
                                            contentSeen = true
                                            if field.next == quote { content = try field.skip() }
                                        }
                                    }
                                case "finish_reason" where !finishSeen:
                                    finishSeen = true
                                    if member.next == quote { finishReason = try member.skip() }
                                default: break
                                }
                            }
                        }
                    case "usage" where !seen.usage:
                        seen.usage = true
                        guard value.next == brace else { return }
                        var counts: (prompt: Range<Int>?, completion: Range<Int>?) = (nil, nil)
                        var promptSeen = false, completionSeen = false
                        try value.object { count, name in
                            if name == "prompt_tokens", !promptSeen {
                                promptSeen = true
                                counts.prompt = try count.skip()
                            } else if name == "completion_tokens", !completionSeen {
                                completionSeen = true
                                counts.completion = try count.skip()
                            }
                        }
                        usage = counts
                    case "model" where !seen.model:
                        seen.model = true
                        if value.next == quote { model = try value.skip() }
                    default: break
                    }
                }
            }
        } catch {
            return nil
        }
        func text(_ range: Range<Int>?) -> String? {
            range.flatMap { try? Scanner.string(body, at: $0) }
        }
        func count(_ range: Range<Int>?) -> Int {
            range.flatMap { try? Scanner.value(body, at: $0) }?.intValue ?? 0
        }
        guard messageRead, !toolCalls, let content = text(content) else { return nil }
        var response = ChatResponse(
            content: content, finishReason: text(finishReason), usage: usage.map { Usage(promptTokens: count($0.prompt), completionTokens: count($0.completion)) },
            model: text(model))
        response.toolCalls = []
        return response
    }
}
