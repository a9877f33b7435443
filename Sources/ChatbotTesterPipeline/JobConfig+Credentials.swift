import ChatbotTesterCore
import Foundation

/// The secrets contract applied to a job config's backends: a credential written as a literal is
/// refused (it would travel to workers and land in job.json and the spool), and the values of
/// `${VAR}` expansions that build a credential are masked like resolved secrets.
enum ConfigCredentials {
    /// Header names whose values are credentials.
    static func isCredentialHeader(_ name: String) -> Bool {
        let lowered = name.lowercased()
        if ["authorization", "proxy-authorization", "cookie"].contains(lowered) { return true }
        return ["api-key", "api_key", "apikey", "auth-token", "access-token", "x-token", "x-secret"].contains { lowered.contains($0) }
    }

    /// Whether a string written in the config is built from a variable: a `{{placeholder}}` the
    /// backend fills from a secret option, or a `${VAR}` expansion.
    static func isTemplated(_ text: String) -> Bool {
        (text.contains("{{") && text.contains("}}")) || text.contains("${")
    }

    /// Whether a `${VAR:-default}` in `text` has a non-empty default (a literal by another name).
    static func hasLiteralDefault(_ text: String) -> Bool {
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            let after = rest[open.upperBound...]
            guard let close = after.firstIndex(of: "}") else { return false }
            if let marker = after[..<close].range(of: ":-"), marker.upperBound < close { return true }
            rest = after[after.index(after: close)...]
        }
        return false
    }

    /// The user-info of a `scheme://user:pass@host/…` URL, or `nil`.
    static func userInfo(_ text: String) -> Substring? {
        guard let scheme = text.range(of: "://"), !text[..<scheme.lowerBound].isEmpty,
            text[..<scheme.lowerBound].allSatisfy({ $0.isLetter || $0.isNumber || "+.-".contains($0) })
        else { return nil }
        let rest = text[scheme.upperBound...]
        let authority = rest[..<(rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex)]
        guard let at = authority.lastIndex(of: "@") else { return nil }
        return authority[..<at]
    }

    /// Checks every backend's options (as written) and registers credential-building expansions
    /// with `masker`. Throws for the first literal credential, naming file, line and field.
    static func check(_ document: ConfigDocument, masker: SecretMasker = .shared) throws {
        guard let backends = document.asWritten["backends"]?.objectValue else { return }
        let templates = Dictionary(document.expansions.map { ($0.field, $0) }, uniquingKeysWith: { first, _ in first })
        for name in backends.keys.sorted() {
            try walk(backends[name]!, field: "backends.\(name)", inHeaders: false, document: document, templates: templates, masker: masker)
        }
    }

    private static func walk(
        _ value: JSONValue, field: String, inHeaders: Bool, document: ConfigDocument,
        templates: [String: ConfigDocument.Expansion], masker: SecretMasker
    ) throws {
        switch value {
        case .object(let object):
            if SecretResolver.isReference(value) { return }
            for key in object.keys.sorted() {
                let child = "\(field).\(key)"
                if inHeaders, isCredentialHeader(key), let text = object[key]?.stringValue {
                    try checkCredential(text, field: child, what: "header '\(key)'", document: document, templates: templates, masker: masker)
                    continue
                }
                try walk(
                    object[key]!, field: child, inHeaders: key.lowercased() == "headers", document: document, templates: templates,
                    masker: masker)
            }
        case .array(let items):
            for (index, item) in items.enumerated() {
                try walk(item, field: "\(field)[\(index)]", inHeaders: false, document: document, templates: templates, masker: masker)
            }
        case .string(let text):
            if let info = userInfo(text), !info.isEmpty {
                try checkCredential(String(info), field: field, what: "URL user-info", document: document, templates: templates, masker: masker)
            }
        default:
            break
        }
    }

    private static func checkCredential(
        _ text: String, field: String, what: String, document: ConfigDocument, templates: [String: ConfigDocument.Expansion],
        masker: SecretMasker
    ) throws {
        if let expansion = templates[field] {
            for variable in expansion.variables {
                if let value = document.expandedVariables[variable] { masker.register(value, name: variable) }
            }
        }
        if hasLiteralDefault(text) {
            throw ChatbotTesterError(
                .invalidConfig,
                "a literal credential as the default of a variable in \(what): drop the default (`${NAME}`) or write {env: NAME}",
                location: document.location(of: field))
        }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty, !isTemplated(text) else { return }
        throw ChatbotTesterError(
            .invalidConfig,
            "a literal credential in \(what): configs travel to workers and into job.json; put the value in an environment "
                + "variable and write {env: NAME} (for a header: `\(field.split(separator: ".").last ?? ""): {env: NAME}`, or "
                + "\"Bearer {{apiKey}}\" with apiKey: {env: NAME}; in a URL: ${NAME})",
            location: document.location(of: field))
    }
}
