import ChatbotTesterCore

/// The `headers` option: `{Name: "value"}` where a value may be a secret reference (`{env: NAME}`).
enum HeaderOptions {
    /// The headers with secret references resolved, in name order.
    static func resolve(_ options: ComponentOptions, key: String = "headers") throws -> [(String, String)] {
        guard let object = try options.object(key) else { return [] }
        return try object.keys.sorted().compactMap { name in
            let value = object[name]!
            let field = options.context.fieldPath("\(key).\(name)")
            if let text = value.stringValue { return (name, text) }
            if SecretResolver.isReference(value) {
                // An optional secret that is not set leaves the header out.
                return try options.context.secrets.resolveIfPresent(value, field: field).map { (name, $0) }
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
