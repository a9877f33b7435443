import ChatbotTesterCore
import Foundation
import NIOCore

/// Assembles a streamed Messages API reply (`stream: true`) into one `ChatResponse`.
///
/// Events: `message_start` (model, input token usage), `content_block_start` (a `text` block or a
/// `tool_use` block with id and name), `content_block_delta` (`text_delta` text, `input_json_delta`
/// `partial_json` pieces of a tool's input), `content_block_stop`, `message_delta` (`stop_reason`,
/// output token usage), `message_stop`; `ping` is ignored, and an `error` event (e.g.
/// `overloaded_error`) fails the call with the status that error type has over plain HTTP, so retry
/// middleware treats it the same way. The event type is read from the data's `type` (the `event:`
/// line says the same). Pure: tests drive it directly.
struct AnthropicStreamDecoder: ServerSentEventAssembler {
    /// One content block being assembled.
    enum Block: Sendable, Hashable {
        case text([String])
        case toolUse(id: String, name: String, json: [String], initial: JSONValue?)
        case other
    }

    let peer: BackendPeer
    /// Put back in front of the text (the JSON-mode `{` prefill).
    let prefill: String
    var events = ServerSentEventParser()
    private(set) var blocks: [(index: Int, block: Block)] = []
    private(set) var stopReason: String?
    private(set) var model: String?
    private var inputTokens: Int?
    private var outputTokens: Int?
    private(set) var stopped = false

    init(peer: BackendPeer, prefill: String = "") {
        self.peer = peer
        self.prefill = prefill
    }

    /// Applies one event; returns the token deltas it carried.
    mutating func consume(_ event: ServerSentEvent) throws -> Int {
        guard !stopped else { return 0 }
        let data = event.data.trimmingASCIIWhitespace()
        guard !data.isEmpty else { return 0 }
        let json: JSONValue
        do {
            json = try JSONWire.parse(Data(data.utf8))
        } catch {
            throw peer.badResponse("a streamed event is not valid JSON", body: Data(data.utf8), retry: .transient)
        }
        switch json["type"]?.stringValue ?? event.event ?? "" {
        case "message_start":
            let message = json["message"]
            if let name = message?["model"]?.stringValue { model = name }
            inputTokens = message?["usage"]?["input_tokens"]?.intValue ?? inputTokens
            outputTokens = message?["usage"]?["output_tokens"]?.intValue ?? outputTokens
            return 0
        case "content_block_start":
            let index = json["index"]?.intValue ?? blocks.count
            let start = json["content_block"]
            switch start?["type"]?.stringValue {
            case "text":
                let text = start?["text"]?.stringValue ?? ""
                blocks.append((index, .text(text.isEmpty ? [] : [text])))
                return text.isEmpty ? 0 : 1
            case "tool_use":
                let initial = start?["input"].flatMap { $0.objectValue?.isEmpty == false ? $0 : nil }
                blocks.append(
                    (index, .toolUse(id: start?["id"]?.stringValue ?? "", name: start?["name"]?.stringValue ?? "", json: [], initial: initial)))
                return 1
            default:
                blocks.append((index, .other))
                return 0
            }
        case "content_block_delta":
            let index = json["index"]?.intValue ?? (blocks.last?.index ?? 0)
            guard let position = blocks.lastIndex(where: { $0.index == index }) else {
                throw peer.badResponse("a content_block_delta for block \(index), which never started", retry: .transient)
            }
            let delta = json["delta"]
            switch (blocks[position].block, delta?["type"]?.stringValue) {
            case (.text(var pieces), "text_delta"):
                guard let text = delta?["text"]?.stringValue, !text.isEmpty else { return 0 }
                pieces.append(text)
                blocks[position].block = .text(pieces)
                return 1
            case (.toolUse(let id, let name, var json, let initial), "input_json_delta"):
                guard let piece = delta?["partial_json"]?.stringValue, !piece.isEmpty else { return 0 }
                json.append(piece)
                blocks[position].block = .toolUse(id: id, name: name, json: json, initial: initial)
                return 1
            default:
                return 0
            }
        case "message_delta":
            if let reason = json["delta"]?["stop_reason"]?.stringValue { stopReason = reason }
            outputTokens = json["usage"]?["output_tokens"]?.intValue ?? outputTokens
            inputTokens = json["usage"]?["input_tokens"]?.intValue ?? inputTokens
            return 0
        case "message_stop":
            stopped = true
            return 0
        case "error":
            throw Self.streamError(json["error"], peer: peer, body: Data(data.utf8))
        default:
            // `ping`, `content_block_stop`, and event types added later.
            return 0
        }
    }

    /// An `error` event as the error the same failure has over plain HTTP.
    static func streamError(_ error: JSONValue?, peer: BackendPeer, body: Data) -> ChatbotTesterError {
        let type = error?["type"]?.stringValue ?? "error"
        let message = error?["message"]?.stringValue ?? type
        let status: Int
        switch type {
        case "overloaded_error": status = 529
        case "rate_limit_error": status = 429
        case "api_error": status = 500
        case "invalid_request_error": status = 400
        case "authentication_error": status = 401
        case "permission_error": status = 403
        case "not_found_error": status = 404
        case "request_too_large": status = 413
        default: status = 500
        }
        let retry: RetryDisposition = status == 429 ? .rateLimited(retryAfter: nil) : (status >= 500 ? .transient : .no)
        return ChatbotTesterError(
            .http(status: status), "\(peer.peer): the stream reported \(type): \(message.prefix(300))", location: peer.location,
            status: status, retry: retry, bodyExcerpt: BackendPeer.excerpt(body))
    }

    /// The assembled reply. A stream that ended without `message_stop` and without a stop reason was
    /// cut short: a transient `bad_response`.
    mutating func finish() throws -> ChatResponse {
        if let last = events.finish() { _ = try consume(last) }
        guard stopped || stopReason != nil else {
            throw peer.badResponse("the stream ended before 'message_stop'", retry: .transient)
        }
        var text = ""
        var calls: [ToolCall] = []
        for (_, block) in blocks.sorted(by: { $0.index < $1.index }) {
            switch block {
            case .text(let pieces): text += pieces.joined()
            case .toolUse(let id, let name, let json, let initial):
                let raw = json.joined()
                calls.append(ToolCall(id: id, name: name, arguments: raw.isEmpty ? (initial ?? .object([:])) : ToolArguments.parse(raw)))
            case .other: break
            }
        }
        var usage: Usage?
        if inputTokens != nil || outputTokens != nil {
            usage = Usage(promptTokens: inputTokens ?? 0, completionTokens: outputTokens ?? 0)
        }
        var response = ChatResponse(content: prefill + text, finishReason: stopReason, usage: usage, model: model)
        response.toolCalls = calls
        return response
    }
}
