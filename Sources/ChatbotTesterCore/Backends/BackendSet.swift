import Foundation

/// The backend registry: type name → factory building a `ChatBackend` and/or `EmbeddingBackend`.
public typealias BackendRegistry = ComponentRegistry<any ModelBackend>

/// Wraps a freshly built backend in middleware according to its options.
///
/// The default stack (retry, rate limit, adaptive concurrency, pool, timeout, cache, accounting) is
/// `BackendMiddleware.standard`; tests and SDK users may pass their own.
public typealias BackendWrapper = @Sendable (any ModelBackend, ComponentOptions, ComponentContext) async throws -> any ModelBackend

/// The backend instances of one job, built lazily from a `RegistryConfig` and shared by every stage,
/// so the target, judge and generator each get one instance (one pool, one rate limiter).
public actor BackendSet {
    public nonisolated let config: RegistryConfig
    public nonisolated let registry: BackendRegistry
    private let secrets: SecretResolver
    private let events: EventBus
    private let stateDirectory: URL?
    private let baseDirectory: URL?
    private let wrapper: BackendWrapper?
    private var built: [String: Task<any ModelBackend, any Error>] = [:]

    /// - Parameters:
    ///   - wrapper: applies middleware to each built backend; `nil` builds bare backends.
    ///   - baseDirectory: relative paths in options resolve against it (the config file's directory).
    public init(
        config: RegistryConfig, registry: BackendRegistry, secrets: SecretResolver = SecretResolver(),
        events: EventBus = EventBus(), stateDirectory: URL? = nil, wrapper: BackendWrapper? = nil, baseDirectory: URL? = nil
    ) {
        self.baseDirectory = baseDirectory
        self.config = config
        self.registry = registry
        self.secrets = secrets
        self.events = events
        self.stateDirectory = stateDirectory
        self.wrapper = wrapper
    }

    private func context(for name: String) -> ComponentContext {
        ComponentContext(
            instanceName: name, section: "backends", secrets: secrets, events: events, backends: self,
            stateDirectory: stateDirectory, baseDirectory: baseDirectory)
    }

    /// Checks every instance's type and options without building anything or resolving secrets.
    public func validate() throws {
        for name in config.names {
            try registry.validate(config.instances[name]!, context: context(for: name))
        }
    }

    /// The built backend named `name` (built on first use, then shared).
    public func backend(named name: String) async throws -> any ModelBackend {
        if let task = built[name] { return try await task.value }
        guard let spec = config.instances[name] else {
            throw ChatbotTesterError(
                .invalidConfig,
                "no backend named '\(name)' (configured: \(config.names.joined(separator: ", ")))",
                location: SourceLocation(field: "backends.\(name)"))
        }
        let context = context(for: name)
        let registry = registry
        let wrapper = wrapper
        let task = Task<any ModelBackend, any Error> {
            let bare = try await registry.make(spec, context: context)
            guard let wrapper else { return bare }
            return try await wrapper(bare, ComponentOptions(spec.options, context: context), context)
        }
        built[name] = task
        do {
            return try await task.value
        } catch {
            built[name] = nil
            throw error
        }
    }

    /// The chat backend named `name`.
    public func chat(_ name: String) async throws -> any ChatBackend {
        try await backend(named: name, as: (any ChatBackend).self, ability: "chat")
    }

    /// The embedding backend named `name`.
    public func embedding(_ name: String) async throws -> any EmbeddingBackend {
        try await backend(named: name, as: (any EmbeddingBackend).self, ability: "embed")
    }

    private func backend<T>(named name: String, as type: T.Type, ability: String) async throws -> T {
        guard let typed = try await backend(named: name) as? T else {
            throw ChatbotTesterError(
                .invalidConfig, "backend '\(name)' (\(config.instances[name]?.type ?? "?")) cannot \(ability)",
                location: SourceLocation(field: "backends.\(name)"))
        }
        return typed
    }
}
