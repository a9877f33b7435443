import ChatbotTesterCore

/// The `headers` option: `{Name: "value"}` where a value may be a secret reference (`{env: NAME}`).
enum HeaderOptions {
    /// The headers with secret references resolved, in name order.
    static func resolve(_ options: ComponentOptions, key: String = "headers") throws -> [(String, String)] {
        guard let object = try options.object(key) else { return [] }
        return try object.keys.sorted().map { name in
            let value = object[name]!
            let field = options.context.fieldPath("\(key).\(name)")
            if let text = value.stringValue { return (name, text) }
            if SecretResolver.isReference(value) {
                return (name, try options.context.secrets.resolve(value, field: field))
            }
            throw ChatbotTesterError(
                .invalidConfig, "expected a string or a secret reference {env: NAME}", location: SourceLocation(field: field))
        }
    }

    static let spec = OptionSpec("headers", .object, "extra HTTP headers; values may be secret references {env: NAME}")

    static func timeoutSpec(default seconds: String = "600") -> OptionSpec {
        OptionSpec("requestTimeoutSeconds", .number, default: seconds, "deadline of one HTTP request, enforced by the backend")
    }
}
