import Foundation

/// A component's options with typed accessors whose errors name the config field.
public struct ComponentOptions: Sendable {
    /// The raw options, as written.
    public let values: [String: JSONValue]
    /// The context, used for error paths and secret resolution.
    public let context: ComponentContext

    public init(_ values: [String: JSONValue], context: ComponentContext) {
        self.values = values
        self.context = context
    }

    public subscript(key: String) -> JSONValue? { values[key] }

    private func mismatch(_ key: String, _ expected: String) -> ChatbotTesterError {
        ChatbotTesterError(.invalidConfig, "expected \(expected)", location: SourceLocation(field: context.fieldPath(key)))
    }

    private func missing(_ key: String) -> ChatbotTesterError {
        ChatbotTesterError(.invalidConfig, "missing required option '\(key)'", location: SourceLocation(field: context.fieldPath(key)))
    }

    /// A string option, or `nil` when absent.
    public func string(_ key: String) throws -> String? {
        guard let value = values[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw mismatch(key, "a string") }
        return text
    }

    /// A required string option.
    public func requiredString(_ key: String) throws -> String {
        guard let text = try string(key) else { throw missing(key) }
        return text
    }

    /// A number option, or `nil` when absent.
    public func double(_ key: String) throws -> Double? {
        guard let value = values[key], !value.isNull else { return nil }
        guard let number = value.doubleValue else { throw mismatch(key, "a number") }
        return number
    }

    /// An integer option, or `nil` when absent.
    public func int(_ key: String) throws -> Int? {
        guard let value = values[key], !value.isNull else { return nil }
        guard let number = value.intValue else { throw mismatch(key, "an integer") }
        return number
    }

    /// A Boolean option, or `nil` when absent.
    public func bool(_ key: String) throws -> Bool? {
        guard let value = values[key], !value.isNull else { return nil }
        guard let flag = value.boolValue else { throw mismatch(key, "true or false") }
        return flag
    }

    /// A list of strings, or `nil` when absent. A single string counts as a one-element list.
    public func strings(_ key: String) throws -> [String]? {
        guard let value = values[key], !value.isNull else { return nil }
        if let single = value.stringValue { return [single] }
        guard let array = value.arrayValue else { throw mismatch(key, "a list of strings") }
        return try array.map { element in
            guard let text = element.stringValue else { throw mismatch(key, "a list of strings") }
            return text
        }
    }

    /// An object option, or `nil` when absent.
    public func object(_ key: String) throws -> [String: JSONValue]? {
        guard let value = values[key], !value.isNull else { return nil }
        guard let object = value.objectValue else { throw mismatch(key, "an object") }
        return object
    }

    /// A secret option resolved to its value (`{env: NAME}` or `{file: PATH}`), or `nil` when absent.
    public func secret(_ key: String) throws -> String? {
        guard let value = values[key], !value.isNull else { return nil }
        return try context.secrets.resolveIfPresent(value, field: context.fieldPath(key))
    }

    /// An option decoded as `T`; decoding errors name the field.
    public func decode<T: Decodable>(_ key: String, as type: T.Type = T.self) throws -> T? {
        guard let value = values[key], !value.isNull else { return nil }
        do {
            return try value.decode(T.self)
        } catch let error as DecodingError {
            let inner = error.fieldPath
            throw ChatbotTesterError(
                .invalidConfig, error.shortMessage,
                location: SourceLocation(field: context.fieldPath(inner.isEmpty ? key : "\(key).\(inner)")))
        }
    }
}
