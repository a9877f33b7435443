import ChatbotTesterCore

/// Builds a JSON value that satisfies a JSON schema's required shape, deterministically.
///
/// Objects get their `required` properties (all properties when none are required); strings get
/// `const`, the first `enum` value, or the given text; numbers their `maximum` (else `minimum`, else
/// 1); booleans `true`; arrays `minItems` items (at least one). `anyOf`/`oneOf`/`allOf` use the first
/// branch. Used by the scripted backend and the mock server to answer judge-style requests.
public enum DeterministicJSON {
    /// A value matching `schema`; `text` fills free strings.
    public static func value(for schema: JSONValue, text: String, depth: Int = 0) -> JSONValue {
        guard depth < 16, let object = schema.objectValue else { return .string(text) }
        if let constant = object["const"] { return constant }
        if let choices = object["enum"]?.arrayValue, let first = choices.first { return first }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let first = object[key]?.arrayValue?.first { return value(for: first, text: text, depth: depth + 1) }
        }
        var type = object["type"]?.stringValue
        if type == nil, let types = object["type"]?.arrayValue {
            type = types.compactMap(\.stringValue).first { $0 != "null" }
        }
        if type == nil { type = object["properties"] != nil ? "object" : (object["items"] != nil ? "array" : "string") }
        switch type {
        case "object":
            let properties = object["properties"]?.objectValue ?? [:]
            let required = object["required"]?.arrayValue?.compactMap(\.stringValue) ?? properties.keys.sorted()
            var members: [String: JSONValue] = [:]
            for name in required {
                members[name] = value(for: properties[name] ?? ["type": "string"], text: text, depth: depth + 1)
            }
            return .object(members)
        case "array":
            let count = max(1, object["minItems"]?.intValue ?? 1)
            let item = value(for: object["items"] ?? ["type": "string"], text: text, depth: depth + 1)
            return .array(Array(repeating: item, count: count))
        case "integer":
            let bound = object["maximum"]?.doubleValue ?? object["minimum"]?.doubleValue ?? 1
            return .int(Int(bound.rounded(.down)))
        case "number":
            return .double(object["maximum"]?.doubleValue ?? object["minimum"]?.doubleValue ?? 1)
        case "boolean":
            return .bool(true)
        case "null":
            return .null
        default:
            var string = text
            if let minimum = object["minLength"]?.intValue, string.count < minimum {
                string += String(repeating: "x", count: minimum - string.count)
            }
            if let maximum = object["maxLength"]?.intValue, string.count > maximum { string = String(string.prefix(maximum)) }
            return .string(string)
        }
    }

    /// The JSON text a model would answer for `format`, built around `text`:
    /// `text` itself when it already is a JSON object, `{"reply": text}` for JSON mode, a schema-shaped
    /// object for a JSON schema.
    public static func answer(_ text: String, format: ResponseFormat) -> String {
        switch format {
        case .text:
            return text
        case .json:
            if let parsed = try? JSONValue(parsing: text), parsed.objectValue != nil { return text }
            return JSONValue.object(["reply": .string(text)]).canonicalText
        case .jsonSchema(_, let schema):
            if let parsed = try? JSONValue(parsing: text), parsed.objectValue != nil { return text }
            return value(for: schema, text: text).canonicalText
        }
    }
}
