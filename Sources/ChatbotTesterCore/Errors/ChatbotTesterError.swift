import Foundation

/// Where in the input an error was found: a file (or other source), a line and a field path.
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A file path, artifact key or peer name.
    public var source: String?
    /// 1-based line number, for line-oriented input such as JSONL.
    public var line: Int?
    /// A field path such as `turns[2].content`.
    public var field: String?

    public init(source: String? = nil, line: Int? = nil, field: String? = nil) {
        self.source = source
        self.line = line
        self.field = field
    }

    public var description: String {
        var parts: [String] = []
        if let source { parts.append(source) }
        if let line { parts.append(String(line)) }
        var text = parts.joined(separator: ":")
        if let field, !field.isEmpty { text += text.isEmpty ? "field '\(field)'" : ": field '\(field)'" }
        return text
    }
}

/// How a caller should react to a failed backend call.
public enum RetryDisposition: Sendable, Hashable, Codable {
    /// Retrying will not help (bad request, auth, malformed config).
    case no
    /// A transient failure (5xx, connection reset, timeout): retry with backoff.
    case transient
    /// Rate limited; retry after the given seconds when the server said so.
    case rateLimited(retryAfter: Double?)

    /// Whether any retry is worthwhile.
    public var isRetryable: Bool { self != .no }
}

/// The one error type of chatbot-tester: a stable code, a message, where it happened and why.
///
/// Codes are stable strings, safe to group on in reports and to map to exit codes.
public struct ChatbotTesterError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable error code.
    public struct Code: Sendable, Hashable, Codable, RawRepresentable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Malformed input data (dataset line, result line, frame).
        public static let invalidInput = Code("invalid_input")
        /// Invalid configuration (job config, backend options, registry).
        public static let invalidConfig = Code("invalid_config")
        /// A component type is not registered.
        public static let unknownType = Code("unknown_type")
        /// A secret reference could not be resolved.
        public static let missingSecret = Code("missing_secret")
        /// A backend answered with an HTTP error status outside 4xx/5xx (see `http(status:)`).
        public static let httpStatus = Code("http_status")
        /// A backend answered HTTP 429 (rate limited).
        public static let http429 = Code("http_429")
        /// A backend answered a 4xx status other than 429.
        public static let http4xx = Code("http_4xx")
        /// A backend answered a 5xx status.
        public static let http5xx = Code("http_5xx")
        /// A backend could not be reached or the connection failed (no finer code applies).
        public static let transport = Code("transport")
        /// Nothing accepted the connection (`ECONNREFUSED`), or the host or network is unreachable.
        public static let connectionRefused = Code("connection_refused")
        /// The connection broke before a complete reply arrived (reset, closed by the peer).
        public static let connectionClosed = Code("connection_closed")
        /// The host name could not be resolved.
        public static let dns = Code("dns")
        /// The TLS handshake or a TLS record failed.
        public static let tls = Code("tls")
        /// A backend instance's circuit breaker is open: its target is down and the run stops.
        public static let targetDown = Code("target_down")
        /// A backend reply could not be understood.
        public static let badResponse = Code("bad_response")
        /// A request exceeded its deadline.
        public static let timeout = Code("timeout")
        /// A run-level budget was spent.
        public static let budgetExceeded = Code("budget_exceeded")
        /// The operation was cancelled.
        public static let cancelled = Code("cancelled")
        /// The run stopped before it was complete for a reason outside the job (every worker gone
        /// past its restart limit…); what was recorded is kept and `--resume` continues (exit 3).
        public static let aborted = Code("aborted")
        /// Reading or writing an artifact failed.
        public static let io = Code("io")
        /// A cluster protocol violation.
        public static let proto = Code("protocol")
        /// Another process holds what this one needs (an output directory's lock).
        public static let busy = Code("busy")
        /// Anything else.
        public static let `internal` = Code("internal")

        /// The code of an HTTP error status: `http_429`, `http_4xx`, `http_5xx`, else `http_status`.
        public static func http(status: Int) -> Code {
            switch status {
            case 429: return .http429
            case 400...499: return .http4xx
            case 500...599: return .http5xx
            default: return .httpStatus
            }
        }

        /// Whether the code says the peer could not be reached or the connection broke: no reply
        /// came back at all. These are what a circuit breaker counts.
        public var isConnectionFailure: Bool {
            self == .connectionRefused || self == .connectionClosed || self == .dns || self == .tls || self == .transport
        }

        /// Whether the code is an HTTP status code (`http_*`).
        public var isHTTPStatus: Bool { rawValue.hasPrefix("http_") }
    }

    public var code: Code
    public var message: String
    public var location: SourceLocation?
    /// For backend errors: the HTTP status, if any.
    public var status: Int?
    /// For backend errors: whether and how to retry.
    public var retry: RetryDisposition
    /// For backend errors: the start of the reply body (never a request, never a secret).
    public var bodyExcerpt: String?
    /// The underlying error's description.
    public var cause: String?

    public init(
        _ code: Code, _ message: String, location: SourceLocation? = nil, status: Int? = nil,
        retry: RetryDisposition = .no, bodyExcerpt: String? = nil, cause: (any Error)? = nil
    ) {
        // Masked where the error is made: a server may echo a key in its reply.
        let masker = SecretMasker.shared
        self.code = code
        self.message = masker.mask(message)
        self.location = location
        self.status = status
        self.retry = retry
        self.bodyExcerpt = masker.mask(bodyExcerpt)
        self.cause = cause.map { masker.mask(String(describing: $0)) }
    }

    /// The location, the message and what else is known, each once: a location source the message
    /// already starts with (a backend's peer) is not repeated, nor an HTTP status it already names.
    public var description: String {
        var text = ""
        if let location {
            if let source = location.source, message.hasPrefix(source), location.line == nil {
                // `backends.bot: http://host/v1/chat/completions: connection refused`
                if let field = location.field, !field.isEmpty { text += "\(field): " }
            } else if !location.description.isEmpty {
                text += "\(location): "
            }
        }
        text += message
        if let status, !message.contains("HTTP \(status)") { text += " (HTTP \(status))" }
        if let bodyExcerpt, !bodyExcerpt.isEmpty { text += " — body: \(bodyExcerpt)" }
        if let cause, !cause.isEmpty, cause != message { text += " [\(cause)]" }
        return SecretMasker.shared.mask(text)
    }

    /// Wraps any error as a `ChatbotTesterError`, keeping it when it already is one.
    public static func wrap(_ error: any Error, code: Code = .internal) -> ChatbotTesterError {
        if let error = error as? ChatbotTesterError { return error }
        if error is CancellationError { return ChatbotTesterError(.cancelled, "cancelled") }
        return ChatbotTesterError(code, String(describing: error), cause: error)
    }
}

/// A recorded error: the serializable form of `ChatbotTesterError` kept in result records.
public struct ErrorInfo: Sendable, Hashable, Codable {
    public var code: String
    public var message: String
    public var status: Int?

    public init(code: String, message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status
    }

    public init(_ error: any Error) {
        let wrapped = ChatbotTesterError.wrap(error)
        self.init(code: wrapped.code.rawValue, message: wrapped.description, status: wrapped.status)
    }
}
