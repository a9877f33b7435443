import Foundation

/// The middleware settings of one backend instance, read from its options in the job config.
///
/// ```yaml
/// bot:
///   type: openai
///   retry: {attempts: 4, baseDelaySeconds: 0.5, maxDelaySeconds: 30}
///   rateLimit: {requestsPerMinute: 600, tokensPerMinute: 90000}
///   concurrency: 16
///   adaptiveConcurrency: true
///   timeoutSeconds: 60
///   cache: true                  # or {dir: .cache/bot, mode: read-only}
///   pricing: {inputPerMTok: 0.15, outputPerMTok: 0.6}
///   circuitBreaker: {consecutiveFailures: 10}   # on by default; false turns it off
/// ```
public struct MiddlewareOptions: Sendable, Hashable {
    /// Where cached replies live and how the cache is used.
    public struct CacheSettings: Sendable, Hashable {
        /// An explicit directory; `nil` uses `<stateDirectory>/cache`.
        public var directory: String?
        public var mode: ResponseCache.Mode

        public init(directory: String? = nil, mode: ResponseCache.Mode = .readWrite) {
            self.directory = directory
            self.mode = mode
        }
    }

    /// Retry settings; `nil` disables retries (`retry: false`). On by default.
    public var retry: RetryPolicy?
    /// Rate limits; `nil` for none.
    public var rateLimit: RateLimits?
    /// Most calls in flight at once for this instance; `nil` for no pool.
    public var concurrency: Int?
    /// Cut the pool on 429s and grow it back on success (AIMD).
    public var adaptiveConcurrency: Bool
    /// Per-attempt deadline; `nil` for none.
    public var timeoutSeconds: Double?
    /// The response cache; `nil` when off.
    public var cache: CacheSettings?
    /// The price; `nil` to look the model up in the price table.
    public var pricing: Pricing?
    /// The circuit breaker; `nil` when off (`circuitBreaker: false`). On by default.
    public var circuitBreaker: CircuitBreaker.Settings?

    public init(
        retry: RetryPolicy? = RetryPolicy(), rateLimit: RateLimits? = nil, concurrency: Int? = nil,
        adaptiveConcurrency: Bool = false, timeoutSeconds: Double? = nil, cache: CacheSettings? = nil, pricing: Pricing? = nil,
        circuitBreaker: CircuitBreaker.Settings? = CircuitBreaker.Settings()
    ) {
        self.retry = retry
        self.rateLimit = rateLimit
        self.concurrency = concurrency
        self.adaptiveConcurrency = adaptiveConcurrency
        self.timeoutSeconds = timeoutSeconds
        self.cache = cache
        self.pricing = pricing
        self.circuitBreaker = circuitBreaker
    }

    /// The pool size used when `adaptiveConcurrency` is on but `concurrency` is not set.
    public static let defaultAdaptiveMaximum = 64

    /// Reads the middleware keys of a backend's options; errors name the field
    /// (`backends.bot.retry.attempts`). Other keys are ignored (they belong to the backend type).
    public init(parsing options: ComponentOptions) throws {
        let path = { (field: String) in options.context.fieldPath(field) }
        self.init()
        if let value = options["retry"], !value.isNull {
            retry = try Self.parseRetry(value, path: path("retry"))
        }
        if let value = options["rateLimit"], !value.isNull {
            let reader = try NestedOptionReader(value, path: path("rateLimit"), allowed: ["requestsPerMinute", "tokensPerMinute", "burstSeconds"])
            let limits = RateLimits(
                requestsPerMinute: try reader.positiveNumber("requestsPerMinute"),
                tokensPerMinute: try reader.positiveNumber("tokensPerMinute"),
                burstSeconds: try reader.positiveNumber("burstSeconds") ?? 1)
            rateLimit = limits.requestsPerMinute == nil && limits.tokensPerMinute == nil ? nil : limits
        }
        if let value = try options.int("concurrency") {
            guard value >= 1 else { throw NestedOptionReader.invalid(path("concurrency"), "must be at least 1") }
            concurrency = value
        }
        adaptiveConcurrency = try options.bool("adaptiveConcurrency") ?? false
        if let value = try options.double("timeoutSeconds") {
            guard value >= 0 else { throw NestedOptionReader.invalid(path("timeoutSeconds"), "must not be negative") }
            timeoutSeconds = value == 0 ? nil : value
        }
        if let value = options["cache"], !value.isNull {
            cache = try Self.parseCache(value, path: path("cache"))
        }
        if let value = options["pricing"], !value.isNull {
            let reader = try NestedOptionReader(value, path: path("pricing"), allowed: ["inputPerMTok", "outputPerMTok"])
            pricing = Pricing(
                inputPerMTok: try reader.nonNegativeNumber("inputPerMTok") ?? 0,
                outputPerMTok: try reader.nonNegativeNumber("outputPerMTok") ?? 0)
        }
        if let value = options["circuitBreaker"], !value.isNull {
            circuitBreaker = try Self.parseCircuitBreaker(value, path: path("circuitBreaker"))
        }
    }

    private static func parseCircuitBreaker(_ value: JSONValue, path: String) throws -> CircuitBreaker.Settings? {
        if let flag = value.boolValue { return flag ? CircuitBreaker.Settings() : nil }
        let threshold: Int?
        if let number = value.intValue {
            threshold = number
        } else {
            let reader = try NestedOptionReader(
                value, path: path, allowed: ["consecutiveFailures"], expected: "true, false, a number of failures or an object")
            threshold = try reader.int("consecutiveFailures")
        }
        guard let threshold else { return CircuitBreaker.Settings() }
        guard threshold >= 1 else {
            throw NestedOptionReader.invalid(value.intValue == nil ? "\(path).consecutiveFailures" : path, "must be at least 1")
        }
        return CircuitBreaker.Settings(consecutiveFailures: threshold)
    }

    private static func parseRetry(_ value: JSONValue, path: String) throws -> RetryPolicy? {
        if let flag = value.boolValue { return flag ? RetryPolicy() : nil }
        if let attempts = value.intValue {
            guard attempts >= 1 else { throw NestedOptionReader.invalid(path, "must be at least 1") }
            return RetryPolicy(attempts: attempts)
        }
        let reader = try NestedOptionReader(
            value, path: path, allowed: ["attempts", "baseDelaySeconds", "maxDelaySeconds", "maxRetryAfterSeconds"],
            expected: "true, false, a number of attempts or an object")
        var policy = RetryPolicy()
        if let attempts = try reader.int("attempts") {
            guard attempts >= 1 else { throw NestedOptionReader.invalid("\(path).attempts", "must be at least 1") }
            policy.attempts = attempts
        }
        policy.baseDelaySeconds = try reader.nonNegativeNumber("baseDelaySeconds") ?? policy.baseDelaySeconds
        policy.maxDelaySeconds = try reader.nonNegativeNumber("maxDelaySeconds") ?? policy.maxDelaySeconds
        policy.maxRetryAfterSeconds = try reader.nonNegativeNumber("maxRetryAfterSeconds") ?? policy.maxRetryAfterSeconds
        return policy
    }

    private static func parseCache(_ value: JSONValue, path: String) throws -> CacheSettings? {
        if let flag = value.boolValue { return flag ? CacheSettings() : nil }
        let reader = try NestedOptionReader(value, path: path, allowed: ["dir", "mode"], expected: "true, false or an object")
        var settings = CacheSettings(directory: try reader.string("dir"))
        if let mode = try reader.string("mode") {
            guard let parsed = ResponseCache.Mode(rawValue: mode) else {
                throw NestedOptionReader.invalid(
                    "\(path).mode", "unknown cache mode '\(mode)' (modes: \(ResponseCache.Mode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            settings.mode = parsed
        }
        return settings
    }
}

/// Typed reads of a nested option object whose errors name the full field path.
struct NestedOptionReader {
    let values: [String: JSONValue]
    let path: String

    init(_ value: JSONValue, path: String, allowed: Set<String>, expected: String = "an object") throws {
        guard let object = value.objectValue else { throw Self.invalid(path, "expected \(expected)") }
        for key in object.keys.sorted() where !allowed.contains(key) {
            throw Self.invalid("\(path).\(key)", "unknown option '\(key)' (options: \(allowed.sorted().joined(separator: ", ")))")
        }
        self.values = object
        self.path = path
    }

    static func invalid(_ field: String, _ message: String) -> ChatbotTesterError {
        ChatbotTesterError(.invalidConfig, message, location: SourceLocation(field: field))
    }

    private func present(_ key: String) -> JSONValue? {
        guard let value = values[key], !value.isNull else { return nil }
        return value
    }

    func string(_ key: String) throws -> String? {
        guard let value = present(key) else { return nil }
        guard let text = value.stringValue else { throw Self.invalid("\(path).\(key)", "expected a string") }
        return text
    }

    func int(_ key: String) throws -> Int? {
        guard let value = present(key) else { return nil }
        guard let number = value.intValue else { throw Self.invalid("\(path).\(key)", "expected an integer") }
        return number
    }

    func nonNegativeNumber(_ key: String) throws -> Double? {
        guard let value = present(key) else { return nil }
        guard let number = value.doubleValue, number >= 0, number.isFinite else {
            throw Self.invalid("\(path).\(key)", "expected a number ≥ 0")
        }
        return number
    }

    func positiveNumber(_ key: String) throws -> Double? {
        guard let value = present(key) else { return nil }
        guard let number = value.doubleValue, number > 0, number.isFinite else {
            throw Self.invalid("\(path).\(key)", "expected a number > 0")
        }
        return number
    }
}
