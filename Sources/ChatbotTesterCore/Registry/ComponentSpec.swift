import Foundation

/// A pluggable component written as data: a registered type name plus its options.
///
/// In config files the options sit beside `type`: `{type: openai, model: gpt-4o-mini}`.
/// Every backend, metric, judge and generator can be saved as a spec and rebuilt from it through a
/// registry — that is how workers and resumed runs get identical components.
public struct ComponentSpec: Sendable, Hashable, Codable {
    /// The registered type name.
    public var type: String
    /// The options, as written (secrets stay references such as `{env: NAME}`).
    public var options: [String: JSONValue]

    public init(type: String, options: [String: JSONValue] = [:]) {
        self.type = type
        self.options = options
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let name = try? container.decode(String.self) {
            // Shorthand: `metrics: [json-valid]`.
            self.init(type: name)
            return
        }
        var all = try container.decode([String: JSONValue].self)
        guard let type = all.removeValue(forKey: "type")?.stringValue, !type.isEmpty else {
            let keys = try decoder.container(keyedBy: AnyCodingKey.self)
            throw DecodingError.keyNotFound(
                AnyCodingKey("type"), .init(codingPath: keys.codingPath, debugDescription: "a component needs a 'type'"))
        }
        self.init(type: type, options: all)
    }

    public func encode(to encoder: any Encoder) throws {
        var all = options
        all["type"] = .string(type)
        try all.encode(to: encoder)
    }
}

/// Named component instances: `name → spec`. The `backends:` section of a job config.
///
/// Codable as a plain object, so it can be written to a file or sent to a worker, which rebuilds
/// identical components from it. It never holds a secret's value, only references.
public struct RegistryConfig: Sendable, Hashable, Codable {
    public var instances: [String: ComponentSpec]

    public init(_ instances: [String: ComponentSpec] = [:]) {
        self.instances = instances
    }

    public init(from decoder: any Decoder) throws {
        instances = try [String: ComponentSpec](from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try instances.encode(to: encoder)
    }

    public subscript(name: String) -> ComponentSpec? {
        get { instances[name] }
        set { instances[name] = newValue }
    }

    /// Instance names in sorted order.
    public var names: [String] { instances.keys.sorted() }
}
