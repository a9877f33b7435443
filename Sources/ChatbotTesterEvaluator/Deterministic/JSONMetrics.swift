import ChatbotTesterCore
import Foundation

/// `json-valid` and `json-schema`.
enum JSONMetrics {
    static func register(into registry: inout MetricRegistry) {
        let extract = OptionSpec(
            "extract", .bool, default: "false", "accept JSON wrapped in a ```json code fence or surrounded by text")
        registry.registerSynchronousScoring("json-valid", summary: "reply is valid JSON", options: [extract]) { options, _ in
            let lenient = try options.bool("extract") ?? false
            return { record in
                switch parse(try requireReply(record), lenient: lenient) {
                case .success: return .bool(true, reason: "valid JSON")
                case .failure(let message): return .bool(false, reason: message)
                }
            }
        }
        registry.registerSynchronousScoring(
            "json-schema", summary: "reply is JSON valid against a schema (draft 2020-12 subset)",
            options: [OptionSpec("schema", .object, required: true, "the JSON Schema"), extract]
        ) { options, _ in
            guard let schema = options["schema"], schema.objectValue != nil || schema.boolValue != nil else {
                throw options.invalid("schema", "expected a JSON Schema object")
            }
            let validator = JSONSchemaValidator(schema: schema)
            let lenient = try options.bool("extract") ?? false
            return { record in
                switch parse(try requireReply(record), lenient: lenient) {
                case .failure(let message):
                    return .bool(false, reason: message)
                case .success(let value):
                    let violations = validator.validate(value)
                    return .bool(
                        violations.isEmpty,
                        reason: violations.isEmpty ? "valid against the schema" : violations.prefix(5).map(\.description).joined(separator: "; "),
                        details: violations.isEmpty ? nil : ["violations": .array(violations.map { .string($0.description) })])
                }
            }
        }
    }

    enum Parsed { case success(JSONValue), failure(String) }

    static func parse(_ text: String, lenient: Bool) -> Parsed {
        let candidate = lenient ? (JSONRepair.extractJSON(from: text) ?? text) : text
        do {
            return .success(try JSONValue(parsing: candidate.trimmingCharacters(in: .whitespacesAndNewlines)))
        } catch {
            return .failure("not valid JSON: '\(excerpt(text, limit: 60))'")
        }
    }
}
