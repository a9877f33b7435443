import ChatbotTesterCore
import Foundation
import NIOCore

/// Assembles a streamed chat completion (`stream: true`) into one `ChatResponse`.
///
/// The body is server-sent events whose `data:` is a `chat.completion.chunk`: `choices[0].delta`
/// carries `content` pieces and `tool_calls` fragments (assembled by their `index`: `id`, `type` and
/// `function.name` come first, `function.arguments` in pieces), the last choice chunk carries
/// `finish_reason`, with `stream_options.include_usage` a final chunk with empty `choices` carries
/// `usage`, and `data: [DONE]` ends the stream. A `data: {"error": …}` chunk fails the call.
/// Fed bytes however they were split; pure (no I/O), so tests drive it directly.
struct OpenAIStreamDecoder: ServerSentEventAssembler {
    /// One tool call being assembled.
    struct Slot: Sendable, Hashable {
        var index: Int
        var id = ""
        var name = ""
        var arguments: [String] = []
    }

    let peer: BackendPeer
    var events = ServerSentEventParser()
    private var content: [String] = []
    private(set) var slots: [Slot] = []
    private(set) var finishReason: String?
    private(set) var usage: Usage?
    private(set) var model: String?
    /// `data: [DONE]` arrived.
    private(set) var done = false

    init(peer: BackendPeer) {
        self.peer = peer
    }

    /// Applies one event.
    mutating func consume(_ event: ServerSentEvent) throws -> Int {
        guard !done else { return 0 }
        let data = event.data.trimmingASCIIWhitespace()
        if data == "[DONE]" {
            done = true
            return 0
        }
        guard !data.isEmpty else { return 0 }
        let chunk: JSONValue
        do {
            chunk = try JSONWire.parse(Data(data.utf8))
        } catch {
            throw peer.badResponse("a streamed chunk is not valid JSON", body: Data(data.utf8), retry: .transient)
        }
        if let error = chunk["error"], !error.isNull {
            let message = error["message"]?.stringValue ?? error.stringValue ?? "stream failed"
            throw ChatbotTesterError(
                .badResponse, "\(peer.peer): the stream reported an error: \(message.prefix(300))", location: peer.location,
                retry: .transient, bodyExcerpt: BackendPeer.excerpt(Data(data.utf8)))
        }
        if let name = chunk["model"]?.stringValue, !name.isEmpty { model = name }
        if let reported = OpenAIBackend.parseUsage(chunk["usage"]) { usage = reported }
        var deltas = 0
        for choice in chunk["choices"]?.arrayValue ?? [] where (choice["index"]?.intValue ?? 0) == 0 {
            if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
            guard let delta = choice["delta"] else { continue }
            if let piece = delta["content"]?.stringValue ?? delta["refusal"]?.stringValue, !piece.isEmpty {
                content.append(piece)
                deltas += 1
            }
            for (position, fragment) in (delta["tool_calls"]?.arrayValue ?? []).enumerated() {
                if apply(fragment, position: position) { deltas += 1 }
            }
        }
        return deltas
    }

    /// Merges one `tool_calls` fragment into its slot; true when it carried anything.
    private mutating func apply(_ fragment: JSONValue, position: Int) -> Bool {
        let index = fragment["index"]?.intValue ?? position
        let id = fragment["id"]?.stringValue ?? ""
        let name = fragment["function"]?["name"]?.stringValue ?? ""
        let arguments = fragment["function"]?["arguments"]?.stringValue ?? ""
        // Some compatible servers reuse index 0 for every call of a parallel batch and tell them apart
        // only by a new id: a new id at a seen index opens a new slot.
        var slot = slots.lastIndex { $0.index == index }
        if let found = slot, !id.isEmpty, !slots[found].id.isEmpty, slots[found].id != id { slot = nil }
        let position = slot ?? {
            slots.append(Slot(index: index))
            return slots.count - 1
        }()
        if !id.isEmpty { slots[position].id = id }
        if !name.isEmpty, slots[position].name != name { slots[position].name += name }
        if !arguments.isEmpty { slots[position].arguments.append(arguments) }
        return !id.isEmpty || !name.isEmpty || !arguments.isEmpty
    }

    /// The assembled reply, once the body has ended. A stream that ended with neither `[DONE]` nor a
    /// finish reason was cut short: a transient `bad_response`.
    mutating func finish() throws -> ChatResponse {
        if let last = events.finish() { _ = try consume(last) }
        guard done || finishReason != nil else {
            throw peer.badResponse("the stream ended before 'data: [DONE]'", retry: .transient)
        }
        var response = ChatResponse(content: content.joined(), finishReason: finishReason, usage: usage, model: model)
        response.toolCalls = slots.map { slot in
            ToolCall(id: slot.id, name: slot.name, arguments: ToolArguments.parse(slot.arguments.joined()))
        }
        return response
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs, CR and LF (no Foundation needed).
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
