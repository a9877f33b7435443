import ChatbotTesterCore

extension MockLLMServer {
    /// How the mock server behaves.
    public struct Configuration: Sendable, Hashable {
        /// Bind address; loopback only by default.
        public var host: String
        /// 0 picks a free port (read it from `port` after `start()`).
        public var port: Int
        /// Delay before every reply.
        public var latencyMs: Double
        /// Fraction of LLM requests (0…1) failed with `injectedStatus`, drawn from a seeded generator.
        public var errorRate: Double
        public var seed: UInt64
        /// The status random faults use; 429 replies carry `Retry-After: 1`.
        public var injectedStatus: Int
        /// How many received requests `recordedRequests()` and `GET /requests` keep.
        public var recordCapacity: Int
        /// Length of embedding vectors unless the request asks for `dimensions`.
        public var embeddingDimensions: Int

        public init(
            host: String = "127.0.0.1", port: Int = 0, latencyMs: Double = 0, errorRate: Double = 0, seed: UInt64 = 0,
            injectedStatus: Int = 500, recordCapacity: Int = 1000, embeddingDimensions: Int = 64
        ) {
            self.host = host
            self.port = port
            self.latencyMs = latencyMs
            self.errorRate = errorRate
            self.seed = seed
            self.injectedStatus = injectedStatus
            self.recordCapacity = recordCapacity
            self.embeddingDimensions = embeddingDimensions
        }
    }

    /// Counters since start (or the last `reset()`); LLM and chatbot endpoints only.
    public struct Stats: Sendable, Hashable, Codable {
        /// Requests received.
        public var requests: Int = 0
        /// Requests received but not yet answered.
        public var inFlight: Int = 0
        /// The most requests ever in flight at once.
        public var maxInFlight: Int = 0
        /// Injected faults (random and forced).
        public var faults: Int = 0
        /// Requests per path.
        public var byPath: [String: Int] = [:]
        /// Replies per status code.
        public var byStatus: [String: Int] = [:]
        /// How long delayed replies were held: from the request's last byte read to the reply's
        /// last byte written (`nil` until a delayed reply has been written).
        public var holds: Holds?

        public init() {}
    }

    /// How long the server held its delayed replies, as it measured them (monotonic clock): from the
    /// moment the request's last part was read to the moment the reply's last byte was written to
    /// the socket. A reply is never written before its latency has passed, so `minOvershootMs` is
    /// never negative; the overshoot is the lateness of the timer's wake-up and the write.
    public struct Holds: Sendable, Hashable, Codable {
        /// Delayed replies written.
        public var count: Int
        /// The mean hold.
        public var meanMs: Double
        /// Hold minus the asked latency, per reply: the smallest, median, mean and largest.
        public var minOvershootMs: Double
        public var medianOvershootMs: Double
        public var meanOvershootMs: Double
        public var maxOvershootMs: Double
        /// The median of how late the delay's timer fired past its deadline (the event loop's
        /// wake-up); the rest of the overshoot is writing the reply.
        public var medianTimerLatenessMs: Double

        public init(
            count: Int, meanMs: Double, minOvershootMs: Double, medianOvershootMs: Double, meanOvershootMs: Double,
            maxOvershootMs: Double, medianTimerLatenessMs: Double
        ) {
            self.count = count
            self.meanMs = meanMs
            self.minOvershootMs = minOvershootMs
            self.medianOvershootMs = medianOvershootMs
            self.meanOvershootMs = meanOvershootMs
            self.maxOvershootMs = maxOvershootMs
            self.medianTimerLatenessMs = medianTimerLatenessMs
        }
    }

    /// One received request, as recorded.
    public struct RecordedRequest: Sendable, Hashable, Codable {
        /// 1-based arrival number.
        public var sequence: Int
        public var method: String
        public var path: String
        /// The query string, without `?`.
        public var query: String?
        /// Header names lower-cased. `GET /requests` shows credential headers redacted; in-process
        /// `recordedRequests()` keeps them so tests can check what was sent.
        public var headers: [String: String]
        /// The body as text (truncated at 64 KiB).
        public var body: String

        /// The body parsed as JSON, when it is JSON.
        public var json: JSONValue? { try? JSONValue(parsing: body) }

        static let secretHeaders: Set<String> = ["authorization", "api-key", "x-api-key", "cookie", "proxy-authorization"]

        /// A copy safe to show: credential header values replaced.
        public var redacted: RecordedRequest {
            var copy = self
            for name in copy.headers.keys where Self.secretHeaders.contains(name) { copy.headers[name] = "[redacted]" }
            return copy
        }
    }
}
