/// What makes two backend instances answer alike: their type and options, minus secrets and
/// middleware settings. Used as the cache key's backend part.
///
/// Removed: every middleware option (`retry`, `cache`, …), options declared as secrets, and any
/// secret reference (`{env: …}`, `{file: …}`) at any depth, so rotating a key or tuning retries
/// keeps the cache, while changing the model or base URL does not.
public enum BackendIdentity {
    /// The identity of an instance of `type` with `options`.
    /// - Parameter secretOptions: option names the type declares as `.secret`.
    public static func make(type: String, options: [String: JSONValue], secretOptions: Set<String> = []) -> JSONValue {
        let excluded = BackendMiddleware.optionNames.union(secretOptions)
        var kept: [String: JSONValue] = [:]
        for (key, value) in options where !excluded.contains(key) {
            if let clean = stripSecrets(value) { kept[key] = clean }
        }
        return ["type": .string(type), "options": .object(kept)]
    }

    /// Removes secret references at any depth; `nil` when the value itself is one.
    static func stripSecrets(_ value: JSONValue) -> JSONValue? {
        if SecretResolver.isReference(value) { return nil }
        switch value {
        case .object(let members):
            var kept: [String: JSONValue] = [:]
            for (key, member) in members {
                if let clean = stripSecrets(member) { kept[key] = clean }
            }
            return .object(kept)
        case .array(let elements):
            return .array(elements.compactMap(stripSecrets))
        default:
            return value
        }
    }
}
