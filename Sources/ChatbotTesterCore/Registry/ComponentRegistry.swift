import Foundation

/// Documentation of one option of a component type, shown by `backends list` and used to reject
/// unknown options.
public struct OptionSpec: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case string, number, integer, bool, array, object, secret, any
    }

    public var name: String
    public var kind: Kind
    public var required: Bool
    public var summary: String
    public var defaultValue: String?

    public init(_ name: String, _ kind: Kind, required: Bool = false, default defaultValue: String? = nil, _ summary: String) {
        self.name = name
        self.kind = kind
        self.required = required
        self.summary = summary
        self.defaultValue = defaultValue
    }
}

/// What a factory gets besides its options: the instance name, secrets, events and other components.
public struct ComponentContext: Sendable {
    /// The instance name (`bot`, `judge`); names fields in errors.
    public var instanceName: String
    /// The config section the instance sits in, for error paths (`backends`, `evaluate.metrics`).
    public var section: String
    public var secrets: SecretResolver
    public var events: EventBus
    /// Backends by name, for components that call models (judges, synthesizers, simulators).
    public var backends: BackendSet?
    /// A directory for on-disk state such as the response cache.
    public var stateDirectory: URL?
    /// The directory relative paths in options are resolved against: the config file's.
    public var baseDirectory: URL?

    public init(
        instanceName: String, section: String = "backends", secrets: SecretResolver = SecretResolver(),
        events: EventBus = EventBus(), backends: BackendSet? = nil, stateDirectory: URL? = nil, baseDirectory: URL? = nil
    ) {
        self.instanceName = instanceName
        self.section = section
        self.secrets = secrets
        self.events = events
        self.backends = backends
        self.stateDirectory = stateDirectory
        self.baseDirectory = baseDirectory
    }

    /// A path written in an option: absolute as is, relative against `baseDirectory` (the current
    /// directory when there is none).
    public func resolvePath(_ path: String) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path) }
        guard let baseDirectory else { return URL(fileURLWithPath: path) }
        return baseDirectory.appendingPathComponent(path).standardizedFileURL
    }

    /// `section.instance.field`, for error locations.
    public func fieldPath(_ field: String) -> String {
        [section, instanceName, field].filter { !$0.isEmpty }.joined(separator: ".")
    }
}

/// One registered component type: its name, documentation and factory.
public struct ComponentType<Component>: Sendable {
    public var name: String
    public var summary: String
    public var options: [OptionSpec]
    /// Keys accepted beyond `options` without documentation (middleware keys, for backends).
    public var factory: @Sendable (ComponentOptions, ComponentContext) async throws -> Component

    public init(
        name: String, summary: String, options: [OptionSpec],
        factory: @escaping @Sendable (ComponentOptions, ComponentContext) async throws -> Component
    ) {
        self.name = name
        self.summary = summary
        self.options = options
        self.factory = factory
    }
}

/// A type name → factory map: the plug-in point for backends, metrics, judges and generators.
///
/// A value type, passed explicitly; `register` a user type once and every stage and worker that is
/// handed the registry can build it from a `ComponentSpec`.
public struct ComponentRegistry<Component>: Sendable {
    private var types: [String: ComponentType<Component>] = [:]
    /// Option keys every type accepts in addition to its own (e.g. middleware keys for backends).
    public var sharedOptions: [OptionSpec]

    public init(sharedOptions: [OptionSpec] = []) {
        self.sharedOptions = sharedOptions
    }

    /// Registers (or replaces) a type.
    public mutating func register(_ type: ComponentType<Component>) {
        types[type.name] = type
    }

    /// Registers (or replaces) a type from its parts.
    public mutating func register(
        _ name: String, summary: String = "", options: [OptionSpec] = [],
        factory: @escaping @Sendable (ComponentOptions, ComponentContext) async throws -> Component
    ) {
        register(ComponentType(name: name, summary: summary, options: options, factory: factory))
    }

    /// The registered type names, sorted.
    public var typeNames: [String] { types.keys.sorted() }

    /// The registered types, sorted by name.
    public var allTypes: [ComponentType<Component>] { typeNames.compactMap { types[$0] } }

    /// The type registered under `name`.
    public func type(named name: String) -> ComponentType<Component>? { types[name] }

    /// Checks that the spec names a registered type, that required options are present and that
    /// no unknown option is given. Does not resolve secrets.
    public func validate(_ spec: ComponentSpec, context: ComponentContext) throws {
        guard let type = types[spec.type] else {
            throw ChatbotTesterError(
                .unknownType,
                "unknown type '\(spec.type)' (registered: \(typeNames.joined(separator: ", ")))",
                location: SourceLocation(field: context.fieldPath("type")))
        }
        let known = Set((type.options + sharedOptions).map(\.name))
        for key in spec.options.keys.sorted() where !known.contains(key) {
            throw ChatbotTesterError(
                .invalidConfig,
                "unknown option '\(key)' for type '\(spec.type)' (options: \(known.sorted().joined(separator: ", ")))",
                location: SourceLocation(field: context.fieldPath(key)))
        }
        for option in type.options where option.required && spec.options[option.name] == nil {
            throw ChatbotTesterError(
                .invalidConfig, "missing required option '\(option.name)' for type '\(spec.type)'",
                location: SourceLocation(field: context.fieldPath(option.name)))
        }
    }

    /// Builds a component from its spec.
    public func make(_ spec: ComponentSpec, context: ComponentContext) async throws -> Component {
        try validate(spec, context: context)
        let type = types[spec.type]!
        return try await type.factory(ComponentOptions(spec.options, context: context), context)
    }
}
