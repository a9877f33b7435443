/// A backend call failed and will be tried again: kind `backend.retry`.
public struct BackendRetryEvent: TesterEvent, Hashable {
    public static let kind = "backend.retry"
    /// The backend instance name.
    public var backend: String
    /// The attempt that failed (1-based).
    public var attempt: Int
    /// The wait before the next attempt.
    public var delaySeconds: Double
    /// The error code (`http_status`, `timeout`, …).
    public var code: String
    /// The HTTP status, when there was one.
    public var status: Int?
    /// The server's Retry-After, when it sent one.
    public var retryAfterSeconds: Double?
    public var message: String

    public init(
        backend: String, attempt: Int, delaySeconds: Double, code: String, status: Int? = nil,
        retryAfterSeconds: Double? = nil, message: String
    ) {
        self.backend = backend
        self.attempt = attempt
        self.delaySeconds = delaySeconds
        self.code = code
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
        self.message = message
    }
}

/// Adaptive concurrency changed a backend's limit: kind `backend.concurrency`.
public struct BackendConcurrencyEvent: TesterEvent, Hashable {
    public static let kind = "backend.concurrency"
    public var backend: String
    /// The new limit.
    public var limit: Int
    /// `rate_limited` (cut) or `recovered` (grown back).
    public var reason: String

    public init(backend: String, limit: Int, reason: String) {
        self.backend = backend
        self.limit = limit
        self.reason = reason
    }
}

/// A backend instance's circuit breaker opened: kind `backend.circuit_open`. The run stops.
public struct BackendCircuitOpenEvent: TesterEvent, Hashable {
    public static let kind = "backend.circuit_open"
    /// The backend instance name.
    public var backend: String
    /// Consecutive connection-level failures that opened it.
    public var failures: Int
    /// The last failure's code (`connection_refused`, `dns`, …).
    public var code: String
    /// The `target_down` message.
    public var message: String

    public init(backend: String, failures: Int, code: String, message: String) {
        self.backend = backend
        self.failures = failures
        self.code = code
        self.message = message
    }
}
