import Foundation

/// The middleware of one backend instance, in this order from the caller inwards:
///
/// 1. **cache** — a hit returns at once: no budget, no slot, no network;
/// 2. **accounting** — prices the final reply once (retries are not billed twice) and records totals;
/// 3. **retry** — each attempt goes back through the layers below, so it waits for a slot and for
///    budget again, and a backoff sleep holds neither;
/// 3a. **circuit breaker** — counts every attempt's connection-level failures; once open, an attempt
///    fails at once with `target_down` (not retried) without waiting for a slot;
/// 4. **pool** (fixed or adaptive) — bounds calls in flight; it sees every attempt's outcome, which
///    is what AIMD needs;
/// 5. **rate limit** — budget is taken right before sending, so the bucket tracks real send times
///    (taking it before waiting for a slot would let queued calls burst later);
/// 6. **timeout** — innermost, so it bounds one attempt on the wire, not time spent queueing.
public final class MiddlewareStack: Sendable {
    /// The instance name.
    public let name: String
    public let options: MiddlewareOptions
    /// The backend identity part of cache keys.
    public let identity: JSONValue
    /// The response cache, when on.
    public let cache: ResponseCache?
    /// The rate budget, when limits are set.
    public let budget: (any RateBudget)?
    /// The concurrency pool, when `concurrency` or `adaptiveConcurrency` is set.
    public let limiter: ConcurrencyLimiter?
    private let identityText: String
    private let adaptive: Locked<AdaptiveConcurrency>?
    private let breaker: (any CircuitBreakerGate)?
    private let environment: MiddlewareEnvironment
    /// The retry layer, built once (its policy, clock and notice handler are the stack's).
    private let retryExecutor: RetryExecutor?
    private let events: EventBus
    private let defaultModel: String?
    /// The backend's own `maxTokens` (applied inside it, to requests that set none): the rate
    /// limiter's completion estimate for those requests.
    public let defaultMaxTokens: Int?
    /// A completion limit the backend sends in every request whatever the request says (its
    /// `extraBody`'s `max_tokens`): the estimate for every request.
    public let forcedMaxTokens: Int?

    public init(
        name: String, options: MiddlewareOptions, identity: JSONValue, cache: ResponseCache?, events: EventBus,
        environment: MiddlewareEnvironment, defaultModel: String? = nil, defaultMaxTokens: Int? = nil, forcedMaxTokens: Int? = nil
    ) {
        self.name = name
        self.options = options
        self.identity = identity
        self.identityText = identity.canonicalText
        self.cache = cache
        self.events = events
        self.environment = environment
        self.defaultModel = defaultModel
        self.defaultMaxTokens = defaultMaxTokens
        self.forcedMaxTokens = forcedMaxTokens
        budget = options.rateLimit.map { environment.makeRateBudget(name, $0, environment.clock) }
        let poolSize = options.concurrency ?? (options.adaptiveConcurrency ? MiddlewareOptions.defaultAdaptiveMaximum : nil)
        limiter = poolSize.map { ConcurrencyLimiter(limit: $0) }
        adaptive = options.adaptiveConcurrency ? Locked(AdaptiveConcurrency(maximum: poolSize ?? 1)) : nil
        breaker = options.circuitBreaker.map { environment.makeCircuitBreaker(name, $0) }
        retryExecutor = options.retry.map { policy in
            RetryExecutor(policy: policy, clock: environment.clock, random: environment.random) { [name, events] notice in
                var retryAfter: Double?
                if case .rateLimited(let seconds) = notice.error.retry { retryAfter = seconds }
                events.emit(
                    BackendRetryEvent(
                        backend: name, attempt: notice.attempt, delaySeconds: notice.delaySeconds, code: notice.error.code.rawValue,
                        status: notice.error.status, retryAfterSeconds: retryAfter, message: notice.error.message))
            }
        }
    }

    /// The `target_down` error once the circuit breaker has opened; `nil` while calls go through.
    public var targetDownError: ChatbotTesterError? { breaker?.openError }

    // MARK: Chat

    /// Sends `request` to `inner` through every layer.
    public func send(_ request: ChatRequest, to inner: any ChatBackend) async throws -> ChatResponse {
        let key = cache.map { _ in
            ResponseCache.key(identityText: identityText, kind: "chat", canonicalRequest: Self.cacheMaterial(request))
        }
        if let cache, let key, var hit = await cache.read(ChatResponse.self, key: key) {
            hit.cached = true
            hit.attempts = 0
            if hit.costUSD != nil { hit.costUSD = 0 }
            record { $0.calls += 1; $0.cacheHits += 1; $0.usage += hit.usage ?? .zero }
            return hit
        }
        var response: ChatResponse
        let attempts: Int
        let latency: Double
        do {
            // Only the rate budget reads the estimate.
            let estimate =
                budget == nil
                ? 0 : TokenEstimator.estimate(request, backendMaxTokens: defaultMaxTokens, forcedMaxTokens: forcedMaxTokens)
            (response, attempts, latency) = try await execute(estimatedTokens: estimate, actualTokens: { $0.usage?.totalTokens }) {
                try await inner.send(request)
            }
        } catch {
            record { $0.failures += 1 }
            throw error
        }
        response.attempts = attempts
        response.cached = false
        if response.latencyMs == nil { response.latencyMs = latency }
        let price = priceFor(model: response.model ?? request.model ?? defaultModel)
        if let price, let usage = response.usage { response.costUSD = price.cost(of: usage) }
        record { totals in
            totals.calls += 1
            totals.retries += attempts - 1
            totals.usage += response.usage ?? .zero
            if let cost = response.costUSD { totals.costUSD += cost } else { totals.unpricedCalls += 1 }
        }
        if let cache, let key { await storeQuietly(response, in: cache, key: key) }
        return response
    }

    /// The request as it enters the cache key (canonical JSON, sorted keys): everything sent to
    /// the model. `tags` are labels and stay out, except `tags["cacheKey"]`, which callers set to
    /// keep repeats apart.
    public static func cacheMaterial(_ request: ChatRequest) -> Data {
        var copy = request
        copy.tags = request.tags["cacheKey"].map { ["cacheKey": $0] } ?? [:]
        return (try? JSONCoding.encoder().encode(copy)) ?? Data()
    }

    // MARK: Embeddings

    /// Embeds `inputs` with `inner` through every layer.
    public func embed(_ inputs: [String], with inner: any EmbeddingBackend) async throws -> EmbeddingResponse {
        let key = cache.map { _ in
            ResponseCache.key(
                identityText: identityText, kind: "embedding", canonicalRequest: (try? JSONCoding.encoder().encode(inputs)) ?? Data())
        }
        if let cache, let key, let hit = await cache.read(EmbeddingResponse.self, key: key) {
            record { $0.calls += 1; $0.cacheHits += 1; $0.usage += hit.usage ?? .zero }
            return hit
        }
        let response: EmbeddingResponse
        let attempts: Int
        do {
            (response, attempts, _) = try await execute(
                estimatedTokens: TokenEstimator.estimate(embedding: inputs), actualTokens: { $0.usage?.totalTokens }
            ) { try await inner.embed(inputs) }
        } catch {
            record { $0.failures += 1 }
            throw error
        }
        let price = priceFor(model: defaultModel)
        record { totals in
            totals.calls += 1
            totals.retries += attempts - 1
            totals.usage += response.usage ?? .zero
            if let price, let usage = response.usage { totals.costUSD += price.cost(of: usage) } else { totals.unpricedCalls += 1 }
        }
        if let cache, let key { await storeQuietly(response, in: cache, key: key) }
        return response
    }

    // MARK: Layers

    /// Retry around pool around rate limit around timeout around `body`. Returns the value, the
    /// attempts made and the last attempt's latency in milliseconds.
    func execute<T: Sendable>(
        estimatedTokens: Int, actualTokens: @escaping @Sendable (T) -> Int?, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> (T, Int, Double) {
        let attempt: @Sendable (Int) async throws -> (T, Double) = { _ in
            AttemptTally.current?.add()
            return try await self.withBreaker {
                try await self.withPool {
                    try await self.withBudget(estimatedTokens: estimatedTokens, actualTokens: { actualTokens($0.0) }) {
                        let start = self.environment.clock.now()
                        let value = try await self.withTimeout(body)
                        return (value, (self.environment.clock.now() - start) * 1000)
                    }
                }
            }
        }
        guard let executor = retryExecutor else {
            let (value, latency) = try await attempt(1)
            return (value, 1, latency)
        }
        let (result, attempts) = try await executor.run(attempt)
        return (result.0, attempts, result.1)
    }

    /// Fails at once while the breaker is open; records each attempt's outcome and, when this
    /// attempt opens the breaker, emits `backend.circuit_open` and throws `target_down` instead.
    private func withBreaker<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        guard let breaker else { return try await body() }
        if let open = breaker.openError { throw open }
        do {
            let value = try await body()
            _ = await breaker.record(.answered, peer: nil)
            return value
        } catch {
            let outcome = CircuitBreaker.outcome(of: error)
            if case .neutral = outcome { throw error }
            let verdict = await breaker.record(outcome, peer: (error as? ChatbotTesterError)?.location?.source)
            if let opened = verdict.opened, let open = verdict.targetDown {
                events.emit(BackendCircuitOpenEvent(backend: name, failures: opened.failures, code: opened.code, message: open.message))
            }
            // The attempt that opened the breaker, and those in flight then, stop here rather than retry.
            if let open = verdict.targetDown { throw open }
            throw error
        }
    }

    private func withPool<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        guard let limiter else { return try await body() }
        try await limiter.acquire()
        defer { limiter.release() }
        let ticket = adaptive?.withLock { $0.start() }
        do {
            let value = try await body()
            if let changed = adaptive?.withLock({ $0.succeeded() }) { adjust(limiter, to: changed, reason: "recovered") }
            return value
        } catch {
            if let ticket, let error = error as? ChatbotTesterError, case .rateLimited = error.retry,
                let changed = adaptive?.withLock({ $0.rateLimited(ticket: ticket) })
            {
                adjust(limiter, to: changed, reason: "rate_limited")
            }
            throw error
        }
    }

    private func adjust(_ limiter: ConcurrencyLimiter, to limit: Int, reason: String) {
        limiter.setLimit(limit)
        events.emit(BackendConcurrencyEvent(backend: name, limit: limit, reason: reason))
    }

    private func withBudget<T: Sendable>(
        estimatedTokens: Int, actualTokens: (T) -> Int?, _ body: () async throws -> T
    ) async throws -> T {
        guard let budget else { return try await body() }
        try await budget.acquire(estimatedTokens: estimatedTokens)
        let value = try await body()
        if let actual = actualTokens(value) { budget.settle(estimatedTokens: estimatedTokens, actualTokens: actual) }
        return value
    }

    private func withTimeout<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let seconds = options.timeoutSeconds else { return try await body() }
        let error = TimeoutRunner.timeoutError(seconds: seconds, field: "backends.\(name)")
        return try await TimeoutRunner.run(seconds: seconds, clock: environment.clock, error: error, body)
    }

    // MARK: Helpers

    private func priceFor(model: String?) -> Pricing? {
        if let pricing = options.pricing { return pricing }
        guard let model else { return nil }
        return environment.priceTable.price(for: model)
    }

    private func record(_ update: (inout UsageLedger.Totals) -> Void) {
        environment.ledger?.record(name, update)
    }

    private func storeQuietly<T: Encodable>(_ value: T, in cache: ResponseCache, key: String) async {
        do {
            try await cache.write(value, key: key)
        } catch {
            events.emit(LogEvent(.warning, "response cache write failed: \(error)", source: "backends.\(name).cache"))
        }
    }
}
