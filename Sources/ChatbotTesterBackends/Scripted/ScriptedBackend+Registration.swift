import ChatbotTesterCore
import Foundation

extension ScriptedBackend {
    static let options: [OptionSpec] = [
        OptionSpec(
            "rules", .array,
            "[{match: \"refund\", reply: \"...\", toolCalls: [{name, arguments}]}]; match is a case-insensitive substring, 'regex:…', or a list of them"),
        OptionSpec("faqFile", .string, "JSONL file of {\"question\": …, \"answer\": …} lines"),
        OptionSpec("default", .string, default: "Sorry, I don't know.", "reply when nothing matches; may use {{input}}"),
        OptionSpec("latencyMs", .number, default: "0", "simulated latency per reply"),
        OptionSpec("stopPhrase", .string, "what to say once stopAfterTurns is reached (ends simulated dialogues)"),
        OptionSpec("stopAfterTurns", .integer, "say stopPhrase once the conversation holds this many assistant messages"),
        OptionSpec("embeddingDimensions", .integer, default: "256", "length of the hashed bag-of-words vectors"),
        OptionSpec("model", .string, default: "scripted", "model name reported in replies"),
    ]

    static let registration = ComponentType<any ModelBackend>(
        name: "scripted", summary: "deterministic rule/FAQ bot, JSON judge and hashed embeddings, offline", options: options
    ) { options, context in
        let stopPhrase = try options.string("stopPhrase")
        let stopAfterTurns = try options.int("stopAfterTurns")
        if stopAfterTurns != nil, stopPhrase == nil {
            throw ChatbotTesterError(
                .invalidConfig, "stopAfterTurns needs a stopPhrase", location: SourceLocation(field: context.fieldPath("stopPhrase")))
        }
        let dimensions = try options.int("embeddingDimensions") ?? 256
        guard dimensions > 0 else {
            throw ChatbotTesterError(
                .invalidConfig, "expected a positive integer", location: SourceLocation(field: context.fieldPath("embeddingDimensions")))
        }
        return ScriptedBackend(
            rules: try parseRules(options), faq: try loadFAQ(options), defaultReply: try options.string("default") ?? "Sorry, I don't know.",
            latencyMs: max(0, try options.double("latencyMs") ?? 0), stopPhrase: stopPhrase, stopAfterTurns: stopAfterTurns,
            dimensions: dimensions, model: try options.string("model") ?? "scripted")
    }

    static func parseRules(_ options: ComponentOptions) throws -> [Rule] {
        guard let list = options["rules"], !list.isNull else { return [] }
        guard let rules = list.arrayValue else {
            throw ChatbotTesterError(.invalidConfig, "expected a list of {match, reply}", location: SourceLocation(field: options.context.fieldPath("rules")))
        }
        return try rules.enumerated().map { index, rule in
            let field = options.context.fieldPath("rules[\(index)]")
            guard let object = rule.objectValue else {
                throw ChatbotTesterError(.invalidConfig, "expected {match, reply}", location: SourceLocation(field: field))
            }
            for key in object.keys.sorted() where !["match", "reply", "toolCalls"].contains(key) {
                throw ChatbotTesterError(
                    .invalidConfig, "unknown key '\(key)' (expected match, reply, toolCalls)", location: SourceLocation(field: "\(field).\(key)"))
            }
            let toolCalls = try parseToolCalls(object["toolCalls"], field: "\(field).toolCalls")
            guard let reply = object["reply"]?.stringValue ?? (toolCalls.isEmpty || object["reply"] != nil ? nil : "") else {
                throw ChatbotTesterError(.invalidConfig, "expected a string", location: SourceLocation(field: "\(field).reply"))
            }
            let matches: [String]
            if let single = object["match"]?.stringValue {
                matches = [single]
            } else if let many = object["match"]?.arrayValue?.compactMap(\.stringValue), !many.isEmpty {
                matches = many
            } else {
                throw ChatbotTesterError(.invalidConfig, "expected a string or a list of strings", location: SourceLocation(field: "\(field).match"))
            }
            let patterns = try matches.map { text -> Rule.Pattern in
                guard text.hasPrefix("regex:") else { return .substring(text) }
                do {
                    return .regex(try NSRegularExpression(pattern: String(text.dropFirst(6)), options: [.caseInsensitive]))
                } catch {
                    throw ChatbotTesterError(.invalidConfig, "invalid regular expression", location: SourceLocation(field: "\(field).match"), cause: error)
                }
            }
            return Rule(patterns: patterns, reply: reply, toolCalls: toolCalls)
        }
    }

    /// A rule's `toolCalls`: `[{name, arguments}]` (arguments a JSON object, default `{}`).
    static func parseToolCalls(_ value: JSONValue?, field: String) throws -> [(name: String, arguments: JSONValue)] {
        guard let value, !value.isNull else { return [] }
        guard let list = value.arrayValue, !list.isEmpty else {
            throw ChatbotTesterError(.invalidConfig, "expected a non-empty list of {name, arguments}", location: SourceLocation(field: field))
        }
        return try list.enumerated().map { index, call in
            let at = "\(field)[\(index)]"
            guard let object = call.objectValue else {
                throw ChatbotTesterError(.invalidConfig, "expected {name, arguments}", location: SourceLocation(field: at))
            }
            for key in object.keys.sorted() where key != "name" && key != "arguments" {
                throw ChatbotTesterError(.invalidConfig, "unknown key '\(key)' (expected name, arguments)", location: SourceLocation(field: "\(at).\(key)"))
            }
            guard let name = object["name"]?.stringValue, !name.isEmpty else {
                throw ChatbotTesterError(.invalidConfig, "expected a tool name", location: SourceLocation(field: "\(at).name"))
            }
            let arguments = object["arguments"] ?? [:]
            guard arguments.objectValue != nil else {
                throw ChatbotTesterError(.invalidConfig, "expected a JSON object", location: SourceLocation(field: "\(at).arguments"))
            }
            return (name, arguments)
        }
    }

    static func loadFAQ(_ options: ComponentOptions) throws -> [FAQEntry] {
        guard let path = try options.string("faqFile") else { return [] }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ChatbotTesterError(.io, "cannot read FAQ file", location: SourceLocation(source: path, field: options.context.fieldPath("faqFile")), cause: error)
        }
        var entries: [FAQEntry] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            let location = { (field: String?) in SourceLocation(source: path, line: index + 1, field: field) }
            guard let json = try? JSONValue(parsing: trimmed), let object = json.objectValue else {
                throw ChatbotTesterError(.invalidInput, "expected a JSON object {\"question\", \"answer\"}", location: location(nil))
            }
            guard let question = object["question"]?.stringValue else {
                throw ChatbotTesterError(.invalidInput, "expected a string", location: location("question"))
            }
            guard let answer = object["answer"]?.stringValue else {
                throw ChatbotTesterError(.invalidInput, "expected a string", location: location("answer"))
            }
            for key in object.keys.sorted() where key != "question" && key != "answer" {
                throw ChatbotTesterError(.invalidInput, "unknown field (expected question, answer)", location: location(key))
            }
            entries.append(FAQEntry(question: question, words: Set(HashedEmbedding.words(question)), answer: answer))
        }
        return entries
    }
}
