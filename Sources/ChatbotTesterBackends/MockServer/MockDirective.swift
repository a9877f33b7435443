/// Instructions a test embeds in a prompt (or the `x-mock-fault` header) to script the mock server.
///
/// - `MOCK_REPLY: <text>` — answer exactly `<text>` (rest of the message), whatever the format.
/// - `MOCK_FAULT: 429|500|503|hang|malformed [retry-after=S] [retry-after-date=S] [times=N]` —
///   fail this way; with `times=N` only the first N requests carrying the same prompt fail.
/// - `MOCK_LATENCY_MS: <ms>` — answer after this delay instead of the configured latency.
/// - `MOCK_STREAM: one-write` — a streamed reply's events leave in one write instead of one flushed
///   write each, so the client reads them in as many reads as its buffers ask for, whatever the
///   timing (a benchmark counting the client's allocations needs the same reads every time).
struct MockDirective: Sendable, Hashable {
    enum Fault: Sendable, Hashable {
        case status(Int)
        case hang
        case malformed
    }

    var reply: String?
    var fault: Fault?
    /// Retry-After as delay-seconds.
    var retryAfter: Double?
    /// Retry-After as an HTTP date this many seconds ahead.
    var retryAfterDate: Double?
    var times: Int?
    var latencyMs: Double?
    /// A streamed reply's events go out in one write (`MOCK_STREAM: one-write`).
    var streamInOneWrite = false

    /// Reads directives from a prompt.
    init(prompt: String) {
        if let text = Self.value(after: "MOCK_REPLY:", in: prompt, toEnd: true) { reply = text }
        if let spec = Self.value(after: "MOCK_FAULT:", in: prompt, toEnd: false) { parseFault(spec) }
        if let ms = Self.value(after: "MOCK_LATENCY_MS:", in: prompt, toEnd: false).flatMap({ Double($0.split(separator: " ").first ?? "") }) {
            latencyMs = ms
        }
        streamInOneWrite = Self.value(after: "MOCK_STREAM:", in: prompt, toEnd: false)?.lowercased() == "one-write"
    }

    /// Reads a fault from the `x-mock-fault` header value (same syntax as the directive).
    init(header: String) {
        parseFault(header)
    }

    var isEmpty: Bool { reply == nil && fault == nil && latencyMs == nil && !streamInOneWrite }

    private mutating func parseFault(_ spec: String) {
        let words = spec.split { $0 == " " || $0 == ";" || $0 == "," }
        guard let kind = words.first?.lowercased() else { return }
        switch kind {
        case "hang", "timeout": fault = .hang
        case "malformed": fault = .malformed
        default: if let status = Int(kind) { fault = .status(status) }
        }
        for word in words.dropFirst() {
            let parts = word.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            switch parts[0].lowercased() {
            case "retry-after": retryAfter = Double(parts[1])
            case "retry-after-date": retryAfterDate = Double(parts[1])
            case "times": times = Int(parts[1])
            default: break
            }
        }
    }

    /// The text after `marker`: to the end of the prompt, or to the end of its line.
    private static func value(after marker: String, in prompt: String, toEnd: Bool) -> String? {
        guard let range = prompt.range(of: marker) else { return nil }
        var rest = prompt[range.upperBound...]
        if !toEnd, let newline = rest.firstIndex(where: \.isNewline) { rest = rest[..<newline] }
        return rest.trimmingCharacters(in: .whitespaces)
    }
}
