import Foundation
import ChatbotTesterCore

/// One test case as a model wrote it, validated.
public struct SynthesizedItem: Sendable, Hashable {
    public var input: String
    public var expected: String?
    public var criteria: String?
    public var type: QuestionType?

    /// The JSON schema of the reply: `{"items": [{input, expected, criteria, type}]}` with at least
    /// `count` items.
    ///
    /// The root is an object because structured-output APIs (OpenAI's among them) require one.
    public static func replySchema(types: [QuestionType], count: Int) -> JSONValue {
        let item: JSONValue = [
            "type": "object",
            "properties": [
                "input": ["type": "string", "description": "the user's message to the chatbot"],
                "expected": ["type": "string", "description": "the reference answer a good assistant gives"],
                "criteria": ["type": "string", "description": "what a good answer must do, for a judge"],
                "type": ["type": "string", "enum": .array(types.map { .string($0.rawValue) })],
            ],
            "required": ["input", "expected", "criteria", "type"],
            "additionalProperties": false,
        ]
        return [
            "type": "object",
            "properties": ["items": ["type": "array", "items": item, "minItems": .int(count)]],
            "required": ["items"],
            "additionalProperties": false,
        ]
    }

    /// Field names small models use instead of ours.
    static let aliases: [String: String] = [
        "question": "input", "query": "input", "prompt": "input", "user": "input",
        "answer": "expected", "reference": "expected", "expected_output": "expected", "expectedAnswer": "expected",
        "questionType": "type", "question_type": "type",
    ]

    /// Validates one element of a reply (the TestSample rules for the fields it fills).
    static func validate(_ value: JSONValue) -> Result<SynthesizedItem, ItemProblem> {
        guard let raw = value.objectValue else { return .failure(ItemProblem("not an object")) }
        var object: [String: JSONValue] = [:]
        for (key, value) in raw { object[aliases[key] ?? key] = value }
        func text(_ key: String) -> Result<String?, ItemProblem> {
            guard let value = object[key], !value.isNull else { return .success(nil) }
            guard let string = value.stringValue else { return .failure(ItemProblem("'\(key)' must be a string")) }
            let trimmed = string.trimmingCharacters(in: .whitespacesAndNewlines)
            return .success(trimmed.isEmpty ? nil : trimmed)
        }
        do {
            guard let input = try text("input").get() else { return .failure(ItemProblem("'input' is missing or empty")) }
            let expected = try text("expected").get()
            let criteria = try text("criteria").get()
            var type: QuestionType?
            if let name = try text("type").get() {
                guard let parsed = QuestionType(lenient: name) else {
                    return .failure(
                        ItemProblem("unknown type '\(name)' (types: \(QuestionType.allCases.map(\.rawValue).joined(separator: ", ")))"))
                }
                type = parsed
            }
            return .success(SynthesizedItem(input: input, expected: expected, criteria: criteria, type: type))
        } catch {
            return .failure(error)
        }
    }
}
