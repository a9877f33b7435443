import Foundation

/// Stops calling a backend instance that is down: a pure state machine.
///
/// It counts consecutive **connection-level** failures (`ChatbotTesterError.Code.isConnectionFailure`:
/// connection refused or closed, DNS, TLS) over every attempt of every call of one instance. Any
/// reply from the peer — a success, an HTTP error status, an unreadable body — proves it is up and
/// resets the count; a timeout or a cancellation leaves it as it is. At `consecutiveFailures` the
/// breaker opens for good (a run whose target is down stops; a resumed run starts closed again).
///
/// The middleware (`MiddlewareStack`) carries out what this returns: while open, every call fails
/// at once with a `target_down` error that is not retried. The Runner stops on the first
/// `target_down` record (`RunStopReason.targetDown`), and so can a cluster coordinator.
public struct CircuitBreaker: Sendable, Hashable {
    /// The settings: `circuitBreaker: {consecutiveFailures: 10}` (on by default), `false` to turn off.
    public struct Settings: Sendable, Hashable, Codable {
        /// Consecutive connection-level failures that open the breaker.
        public var consecutiveFailures: Int

        public init(consecutiveFailures: Int = Settings.defaultThreshold) {
            self.consecutiveFailures = max(1, consecutiveFailures)
        }

        /// The default threshold.
        public static let defaultThreshold = 10
    }

    /// What an attempt came to, as the breaker sees it.
    public enum Outcome: Sendable, Hashable {
        /// The peer answered (success, HTTP error status, unreadable reply).
        case answered
        /// No reply at all: the connection could not be made or broke.
        case connectionFailure(code: String, message: String)
        /// Neither (timeout, cancellation, a local error).
        case neutral
    }

    /// What the caller must do after `record(_:)`.
    public enum Action: Sendable, Hashable {
        /// Nothing.
        case none
        /// The breaker just opened after `failures` consecutive connection failures, the last one `lastMessage`.
        case open(failures: Int, lastCode: String, lastMessage: String)
    }

    public let settings: Settings
    /// Consecutive connection-level failures so far.
    public private(set) var consecutiveFailures = 0
    /// Whether calls are refused.
    public private(set) var isOpen = false

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// Records an attempt's outcome.
    public mutating func record(_ outcome: Outcome) -> Action {
        guard !isOpen else { return .none }
        switch outcome {
        case .answered:
            consecutiveFailures = 0
            return .none
        case .neutral:
            return .none
        case .connectionFailure(let code, let message):
            consecutiveFailures += 1
            guard consecutiveFailures >= settings.consecutiveFailures else { return .none }
            isOpen = true
            return .open(failures: consecutiveFailures, lastCode: code, lastMessage: message)
        }
    }

    /// How the breaker sees an attempt's error.
    public static func outcome(of error: any Error) -> Outcome {
        guard let error = error as? ChatbotTesterError else { return .neutral }
        if error.code.isConnectionFailure {
            return .connectionFailure(code: error.code.rawValue, message: reason(of: error))
        }
        if error.code.isHTTPStatus || error.code == .badResponse { return .answered }
        return .neutral
    }

    /// The error every call gets once the breaker is open:
    /// `backend 'bot' at http://127.0.0.1:8080 is down: 10 consecutive connection failures (connection refused)`
    /// (the message names the instance and the peer, so it carries no location).
    public static func targetDownError(
        instance: String, peer: String?, failures: Int, lastMessage: String
    ) -> ChatbotTesterError {
        let at = peer.map { " at \(origin(of: $0))" } ?? ""
        return ChatbotTesterError(
            .targetDown, "backend '\(instance)'\(at) is down: \(failures) consecutive connection failures (\(lastMessage))",
            retry: .no)
    }

    /// The error's message without the peer it starts with (`http://…: connection refused` → `connection refused`).
    static func reason(of error: ChatbotTesterError) -> String {
        var message = error.message
        if let source = error.location?.source, message.hasPrefix(source) {
            message = String(message.dropFirst(source.count))
            while message.first == ":" || message.first == " " { message.removeFirst() }
        }
        return message.isEmpty ? error.code.rawValue : message
    }

    /// `scheme://host:port` of a URL (the path says nothing about whether the host is up).
    static func origin(of peer: String) -> String {
        guard let components = URLComponents(string: peer), let scheme = components.scheme, let host = components.host else {
            return peer
        }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }
}
