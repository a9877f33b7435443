import Foundation

/// The standard middleware stack, wrapped around every backend built through a `BackendSet`.
///
/// ```swift
/// let registry = BackendRegistry(sharedOptions: BackendMiddleware.optionSpecs)
/// let backends = BackendSet(config: config, registry: registry, stateDirectory: stateDir,
///                           wrapper: BackendMiddleware.standard)
/// ```
///
/// See `MiddlewareStack` for the order of the layers and `MiddlewareOptions` for the keys.
public enum BackendMiddleware {
    /// The option keys every backend type accepts, for `BackendRegistry(sharedOptions:)`.
    public static let optionSpecs: [OptionSpec] = [
        OptionSpec(
            "retry", .any, default: "{attempts: 4, baseDelaySeconds: 0.5, maxDelaySeconds: 30}",
            "retries with exponential backoff + full jitter, honouring Retry-After: false, a number of attempts, or {attempts, baseDelaySeconds, maxDelaySeconds, maxRetryAfterSeconds}"
        ),
        OptionSpec(
            "rateLimit", .object,
            "token-bucket limits: {requestsPerMinute, tokensPerMinute, burstSeconds (default 1)}"),
        OptionSpec("concurrency", .integer, "most calls in flight at once for this instance (a FIFO pool)"),
        OptionSpec(
            "adaptiveConcurrency", .bool, default: "false",
            "halve the pool on 429 / rate limited, grow it back by one per window of successes (max: concurrency, or 64)"),
        OptionSpec("timeoutSeconds", .number, "deadline of one attempt; a timeout is retried as transient"),
        OptionSpec(
            "cache", .any, default: "false",
            "on-disk response cache: true (under the state directory) or {dir, mode: read-write | read-only | refresh}"),
        OptionSpec(
            "pricing", .object,
            "{inputPerMTok, outputPerMTok} in US dollars per million tokens; the built-in table by model name otherwise"),
        OptionSpec(
            "circuitBreaker", .any, default: "{consecutiveFailures: 10}",
            "stop calling an instance that is down: after this many consecutive connection failures (refused, DNS, TLS, reset) every call fails at once with target_down and the run stops; false turns it off"
        ),
    ]

    /// The middleware option names.
    public static let optionNames: Set<String> = Set(optionSpecs.map(\.name))

    /// The standard wrapper: real clock, built-in price table, local rate budgets.
    public static let standard: BackendWrapper = make()

    /// A wrapper with an injected environment (a virtual clock in tests, a ledger, a cluster budget).
    public static func make(environment: MiddlewareEnvironment = .system) -> BackendWrapper {
        { backend, options, context in
            let settings = try MiddlewareOptions(parsing: options)
            let spec = context.backends?.config[context.instanceName]
            let type = spec?.type ?? context.instanceName
            let specs = context.backends?.registry.type(named: type)?.options ?? []
            let secretOptions = Set(specs.filter { $0.kind == .secret }.map(\.name))
            let identity = BackendIdentity.make(type: type, options: options.values, secretOptions: secretOptions)
            let cache = try settings.cache.map { try cacheStore($0, context: context) }
            // The backend fills in its `maxTokens` (or its type's default, e.g. anthropic's 1024)
            // after the rate limiter has estimated: the estimate uses it too.
            let maxTokens = options["maxTokens"]?.intValue ?? specs.first { $0.name == "maxTokens" }?.defaultValue.flatMap { Int($0) }
            let stack = MiddlewareStack(
                name: context.instanceName, options: settings, identity: identity, cache: cache, events: context.events,
                environment: environment, defaultModel: options["model"]?.stringValue ?? options["deployment"]?.stringValue,
                defaultMaxTokens: maxTokens, forcedMaxTokens: TokenEstimator.forcedMaxTokens(extraBody: options["extraBody"]))
            return wrap(backend, in: stack)
        }
    }

    /// Puts `backend` inside `stack`, keeping exactly its capabilities (chat, embeddings or both).
    public static func wrap(_ backend: any ModelBackend, in stack: MiddlewareStack) -> any ModelBackend {
        switch (backend as? any ChatBackend, backend as? any EmbeddingBackend) {
        case (let chat?, let embedding?):
            return MiddlewareChatEmbeddingBackend(chat: chat, embedding: embedding, wrapped: backend, middleware: stack)
        case (let chat?, nil):
            return MiddlewareChatBackend(inner: chat, middleware: stack)
        case (nil, let embedding?):
            return MiddlewareEmbeddingBackend(inner: embedding, middleware: stack)
        case (nil, nil):
            return backend
        }
    }

    /// Wraps a chat backend made in code (no config) with the given settings.
    /// - Parameter cacheDirectory: used when `options.cache` is on and names no directory.
    public static func wrap(
        _ backend: any ChatBackend, name: String, options: MiddlewareOptions, identity: JSONValue? = nil,
        cacheDirectory: URL? = nil, events: EventBus = EventBus(), environment: MiddlewareEnvironment = .system
    ) throws -> any ChatBackend {
        let cache = try options.cache.map { settings -> ResponseCache in
            guard let directory = settings.directory.map({ URL(fileURLWithPath: $0) }) ?? cacheDirectory else {
                throw ChatbotTesterError(
                    .invalidConfig, "the response cache needs a directory", location: SourceLocation(field: "\(name).cache"))
            }
            return ResponseCache(directory: directory, mode: settings.mode)
        }
        let stack = MiddlewareStack(
            name: name, options: options, identity: identity ?? ["type": .string(name)], cache: cache, events: events,
            environment: environment)
        return MiddlewareChatBackend(inner: backend, middleware: stack)
    }

    /// The config with middleware `defaults` added to instance `name` where its own options do not
    /// set them — how run-level settings (`run: {timeoutSeconds: 60, retries: 4}`, `--concurrency N`)
    /// reach the target backend while the backend's own settings win.
    public static func applyingDefaults(
        _ defaults: [String: JSONValue], to name: String, in config: RegistryConfig
    ) -> RegistryConfig {
        var copy = config
        guard var spec = copy[name] else { return config }
        for (key, value) in defaults where spec.options[key] == nil { spec.options[key] = value }
        copy[name] = spec
        return copy
    }

    private static func cacheStore(_ settings: MiddlewareOptions.CacheSettings, context: ComponentContext) throws -> ResponseCache {
        if let directory = settings.directory {
            return ResponseCache(directory: URL(fileURLWithPath: directory), mode: settings.mode)
        }
        guard let state = context.stateDirectory else {
            throw ChatbotTesterError(
                .invalidConfig, "the response cache needs a directory: set cache: {dir: PATH} or give the run a state directory",
                location: SourceLocation(field: context.fieldPath("cache")))
        }
        return ResponseCache(directory: state.appendingPathComponent("cache", isDirectory: true), mode: settings.mode)
    }
}
