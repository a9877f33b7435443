import ChatbotTesterCore
import Foundation

extension MockLLMServer {
    static let controlPaths: Set<String> = ["/stats", "/requests", "/reset", "/health"]
    static let maxRecordedBody = 64 << 10

    /// Decides the reply to one request (called on the connection's event loop; never blocks).
    func respond(method: String, path: String, query: String?, headers: [(String, String)], body: Data) -> MockLLMReply {
        if Self.controlPaths.contains(path) { return control(method: method, path: path) }
        let sequence = begin(method: method, path: path, query: query, headers: headers, body: body)
        guard method == "POST" else { return .error(405, "use POST for \(path)") }
        guard let route = Self.route(path) else { return .error(404, "no route \(path)", type: "not_found") }
        guard let json = try? JSONWire.parse(body), json.objectValue != nil else {
            return .error(400, "request body is not a JSON object", type: "invalid_request_error")
        }
        let prompt = route == "/chatbot" ? (json["message"]?.stringValue ?? "") : MockLLMResponder.lastUserMessage(json)
        var directive = MockDirective(prompt: prompt)
        if let header = headers.first(where: { $0.0.lowercased() == "x-mock-fault" })?.1 {
            let forced = MockDirective(header: header)
            directive.fault = forced.fault
            directive.retryAfter = forced.retryAfter
            directive.retryAfterDate = forced.retryAfterDate
            directive.times = forced.times
        }
        let delay = directive.latencyMs ?? configuration.latencyMs
        if let fault = fault(directive, prompt: prompt, path: path) {
            state.withLock { $0.stats.faults += 1 }
            var reply = fault
            reply.delayMs = delay
            return reply
        }
        var reply: MockLLMReply
        switch route {
        case "/v1/chat/completions":
            let answer = MockLLMResponder.openAIChat(json, directive: directive, sequence: sequence)
            reply =
                json["stream"] == true
                ? .eventStream(MockLLMStream.openAI(answer, includeUsage: json["stream_options"]?["include_usage"] == true))
                : .json(answer)
        case "/v1/messages":
            let answer = MockLLMResponder.anthropicMessages(json, directive: directive, sequence: sequence)
            reply = json["stream"] == true ? .eventStream(MockLLMStream.anthropic(answer)) : .json(answer)
        case "/v1/embeddings":
            reply = .json(MockLLMResponder.embeddings(json, dimensions: configuration.embeddingDimensions))
        default:
            let headerSession = headers.first(where: { $0.0.lowercased() == "x-session-id" })?.1
            let (session, turn) = nextTurn(json["session"]?.stringValue ?? headerSession)
            let documents = json["documents"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let answer = MockLLMResponder.chatbot(message: prompt, directive: directive, session: session, turn: turn, documents: documents)
            if let format = json["stream"]?.stringValue, format == "sse" || format == "ndjson" {
                reply = .eventStream(MockLLMResponder.chatbotStream(answer, format: format))
                if format == "ndjson" { reply.headers[0].1 = "application/x-ndjson" }
            } else {
                reply = .json(answer)
            }
            reply.headers.append(("x-session-id", session))
        }
        reply.delayMs = delay
        reply.chunksInOneWrite = directive.streamInOneWrite
        return reply
    }

    /// The endpoint a path is served by; Azure deployment paths map to the OpenAI ones.
    static func route(_ path: String) -> String? {
        switch path {
        case "/v1/chat/completions", "/v1/embeddings", "/v1/messages", "/chatbot": return path
        default:
            guard path.hasPrefix("/openai/deployments/") else { return nil }
            if path.hasSuffix("/chat/completions") { return "/v1/chat/completions" }
            if path.hasSuffix("/embeddings") { return "/v1/embeddings" }
            return nil
        }
    }

    /// Counts and records an arriving request; returns its sequence number.
    private func begin(method: String, path: String, query: String?, headers: [(String, String)], body: Data) -> Int {
        let capacity = configuration.recordCapacity
        return state.withLock { state in
            state.sequence += 1
            state.stats.requests += 1
            state.stats.inFlight += 1
            state.stats.maxInFlight = max(state.stats.maxInFlight, state.stats.inFlight)
            state.stats.byPath[path, default: 0] += 1
            if capacity > 0 {
                let record = RecordedRequest(
                    sequence: state.sequence, method: method, path: path, query: query,
                    headers: Dictionary(headers.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { first, _ in first }),
                    body: String(decoding: body.prefix(Self.maxRecordedBody), as: UTF8.self))
                if state.records.count < capacity {
                    state.records.append(record)
                } else {
                    state.records[state.recordHead] = record
                    state.recordHead = (state.recordHead + 1) % capacity
                }
            }
            return state.sequence
        }
    }

    /// Marks a counted request answered (or its connection gone).
    func finish(status: Int?) {
        state.withLock { state in
            state.stats.inFlight -= 1
            if let status { state.stats.byStatus[String(status), default: 0] += 1 }
        }
    }

    /// The fault to inject, if any: forced by directive/header, else drawn at `errorRate`.
    private func fault(_ directive: MockDirective, prompt: String, path: String) -> MockLLMReply? {
        if let fault = directive.fault {
            if let times = directive.times {
                let key = "\(path)\u{1}\(prompt)"
                let seen = state.withLock { state -> Int in
                    state.faultCounts[key, default: 0] += 1
                    return state.faultCounts[key]!
                }
                if seen > times { return nil }
            }
            return reply(for: fault, directive: directive)
        }
        guard configuration.errorRate > 0 else { return nil }
        let draw = state.withLock { Double.random(in: 0..<1, using: &$0.random) }
        guard draw < configuration.errorRate else { return nil }
        let status = configuration.injectedStatus
        return reply(for: .status(status), directive: MockDirective(header: status == 429 ? "429 retry-after=1" : "\(status)"))
    }

    private func reply(for fault: MockDirective.Fault, directive: MockDirective) -> MockLLMReply {
        switch fault {
        case .hang:
            return MockLLMReply(status: 0, headers: [], body: Data(), delayMs: 0, hang: true)
        case .malformed:
            return MockLLMReply(
                status: 200, headers: [("content-type", "application/json")], body: Data("{\"choices\": [{\"mess".utf8), delayMs: 0,
                hang: false)
        case .status(let status):
            var reply = MockLLMReply.error(
                status, status == 429 ? "rate limited (injected)" : "injected failure \(status)",
                type: status == 429 ? "rate_limit_error" : "server_error")
            if let date = directive.retryAfterDate {
                reply.headers.append(("retry-after", RetryAfter.httpDate(Date().addingTimeInterval(date))))
            } else if let seconds = directive.retryAfter ?? (status == 429 ? 1 : nil) {
                let text = seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
                reply.headers.append(("retry-after", text))
            }
            return reply
        }
    }

    /// The session to answer with and its turn number (a new session when none or unknown is given).
    private func nextTurn(_ session: String?) -> (String, Int) {
        state.withLock { state in
            if let session, !session.isEmpty, let turns = state.sessions[session] {
                state.sessions[session] = turns + 1
                return (session, turns + 1)
            }
            state.nextSession += 1
            let id = "sess-\(state.nextSession)"
            state.sessions[id] = 1
            return (id, 1)
        }
    }

    private func control(method: String, path: String) -> MockLLMReply {
        switch (method, path) {
        case ("GET", "/stats"):
            return (try? JSONValue(encoding: stats)).map { .json($0) } ?? .error(500, "stats")
        case ("GET", "/requests"):
            return (try? JSONValue(encoding: recordedRequests().map(\.redacted))).map { .json($0) } ?? .error(500, "requests")
        case ("POST", "/reset"):
            reset()
            return .json(["ok": true])
        case ("GET", "/health"):
            return .json(["ok": true])
        default:
            return .error(405, "method not allowed")
        }
    }
}
