import Foundation

/// Resolves secret references (`{env: NAME}`, `{file: PATH}`) where a component is built.
///
/// Configs hold references, never values; the value exists only inside the built component. Every
/// value resolved is registered with ``masker`` so that it is masked wherever text is written.
public struct SecretResolver: Sendable {
    private let environment: [String: String]
    private let allowLiterals: Bool
    /// Learns every value this resolver resolves; ``SecretMasker/shared`` by default.
    public let masker: SecretMasker

    /// - Parameters:
    ///   - environment: where `{env: NAME}` looks; the process environment by default.
    ///   - allowLiterals: accept a plain string as a secret. Off by default so a key typed into a
    ///     config never travels to workers, spool files or logs.
    ///   - masker: learns every resolved value, to mask it in everything written.
    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment, allowLiterals: Bool = false,
        masker: SecretMasker = .shared
    ) {
        self.environment = environment
        self.allowLiterals = allowLiterals
        self.masker = masker
    }

    /// Whether `value` is a secret reference: `{env: NAME}`, `{file: PATH}`, either with
    /// `optional: true`.
    public static func isReference(_ value: JSONValue) -> Bool {
        guard let object = value.objectValue else { return false }
        let source = object["env"]?.stringValue != nil || object["file"]?.stringValue != nil
        let keys = Set(object.keys).subtracting(["optional"])
        return source && keys.count == 1 && (object["optional"] == nil || object["optional"]?.boolValue != nil)
    }

    /// Resolves a reference to the secret's value; `nil` when it is marked `optional: true` and its
    /// variable is unset or its file is missing (so one config serves keyed and keyless endpoints).
    /// - Parameter field: named in errors, e.g. `backends.bot.apiKey`.
    public func resolveIfPresent(_ value: JSONValue, field: String) throws -> String? {
        if Self.isReference(value), value["optional"]?.boolValue == true {
            if let name = value["env"]?.stringValue, (environment[name] ?? "").isEmpty { return nil }
            if let path = value["file"]?.stringValue, !FileManager.default.fileExists(atPath: path) { return nil }
        }
        return try resolve(value, field: field)
    }

    /// Resolves a reference to the secret's value.
    /// - Parameter field: named in errors, e.g. `backends.bot.apiKey`.
    public func resolve(_ value: JSONValue, field: String) throws -> String {
        if Self.isReference(value), let object = value.objectValue {
            if let name = object["env"]?.stringValue {
                guard let secret = environment[name], !secret.isEmpty else {
                    throw ChatbotTesterError(
                        .missingSecret, "environment variable \(name) is not set",
                        location: SourceLocation(field: field))
                }
                masker.register(secret, name: name)
                return secret
            }
            if let path = object["file"]?.stringValue {
                do {
                    let text = try String(contentsOfFile: path, encoding: .utf8)
                    let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
                    masker.register(secret, name: URL(fileURLWithPath: path).lastPathComponent)
                    return secret
                } catch {
                    throw ChatbotTesterError(
                        .missingSecret, "cannot read secret file \(path)", location: SourceLocation(field: field), cause: error)
                }
            }
        }
        if let literal = value.stringValue {
            if allowLiterals {
                masker.register(literal, name: field)
                return literal
            }
            throw ChatbotTesterError(
                .invalidConfig, "secrets must be references such as {env: NAME} or {file: PATH}, not literal values",
                location: SourceLocation(field: field))
        }
        throw ChatbotTesterError(
            .invalidConfig, "expected a secret reference {env: NAME} or {file: PATH}", location: SourceLocation(field: field))
    }
}
