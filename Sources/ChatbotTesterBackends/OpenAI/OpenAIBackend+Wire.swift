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
        typealias Scanner = JSONByteScanner
        func member(_ members: [Scanner.Member], _ name: String) -> Range<Int>? {
            members.first(where: { $0.name == name })?.value
        }
        func starts(_ range: Range<Int>, with byte: UInt8) -> Bool {
            !range.isEmpty && body[body.startIndex + range.lowerBound] == byte
        }
        func text(_ range: Range<Int>?) -> String? {
            guard let range, starts(range, with: UInt8(ascii: "\"")) else { return nil }
            return try? Scanner.string(body, at: range)
        }
        guard let top = try? Scanner.members(ofObject: body), let choices = member(top, "choices"),
            starts(choices, with: UInt8(ascii: "[")), let first = (try? Scanner.elements(ofArray: body, in: choices))?.first,
            starts(first, with: UInt8(ascii: "{")), let choice = try? Scanner.members(ofObject: body, in: first),
            let messageRange = member(choice, "message"), starts(messageRange, with: UInt8(ascii: "{")),
            let message = try? Scanner.members(ofObject: body, in: messageRange), member(message, "tool_calls") == nil,
            let content = text(member(message, "content"))
        else { return nil }
        var usage: Usage?
        if let range = member(top, "usage"), starts(range, with: UInt8(ascii: "{")) {
            guard let counts = try? Scanner.members(ofObject: body, in: range) else { return nil }
            func count(_ name: String) -> Int {
                member(counts, name).flatMap { try? Scanner.value(body, at: $0) }?.intValue ?? 0
            }
            usage = Usage(promptTokens: count("prompt_tokens"), completionTokens: count("completion_tokens"))
        }
        var response = ChatResponse(
            content: content, finishReason: text(member(choice, "finish_reason")), usage: usage, model: text(member(top, "model")))
        response.toolCalls = []
        return response
    }
}
