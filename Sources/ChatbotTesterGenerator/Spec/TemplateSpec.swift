import ChatbotTesterCore
import Foundation

/// One template grid of the `generate.templates` list: a prompt (or scripted turns) with `{name}`
/// placeholders, value lists per variable, and how to combine them.
///
/// ```yaml
/// - template: "How do I {action} my {item}?"
///   variables: {action: [return, exchange], item: [phone, laptop]}
///   expected: "You can {action} your {item} within 30 days."
///   mode: cartesian          # or: sample (with sample: N), zip
/// ```
/// Every text field (`expected`, `criteria`, `system`, `tags`, `id`) is a template too. A
/// placeholder naming no variable, or a variable no field uses, is a config error.
public struct TemplateSpec: Sendable, Hashable, Codable {
    /// How variable values are combined.
    public enum Mode: String, Sendable, Hashable, Codable, CaseIterable, ConfigEnum {
        /// Every combination (the product of the list sizes).
        case cartesian
        /// `sample` distinct combinations drawn with the seed.
        case sample
        /// The i-th value of every list together (lists must have equal length).
        case zip
    }

    /// A single-prompt template; exactly one of `template` and `turns` is set.
    public var template: String?
    /// Scripted user turns, each a template.
    public var turns: [String]?
    /// Variable name → values.
    public var variables: [String: [String]]
    public var expected: String?
    public var criteria: String?
    public var system: String?
    public var tags: [String]
    /// An id template; the content hash (`gen-…`) when absent.
    public var id: String?
    public var mode: Mode
    /// How many combinations to draw in `sample` mode.
    public var sample: Int?
    /// Extra metadata copied to every sample of this grid.
    public var metadata: [String: JSONValue]

    public init(
        template: String? = nil, turns: [String]? = nil, variables: [String: [String]] = [:], expected: String? = nil,
        criteria: String? = nil, system: String? = nil, tags: [String] = [], id: String? = nil, mode: Mode = .cartesian,
        sample: Int? = nil, metadata: [String: JSONValue] = [:]
    ) {
        self.template = template
        self.turns = turns
        self.variables = variables
        self.expected = expected
        self.criteria = criteria
        self.system = system
        self.tags = tags
        self.id = id
        self.mode = sample != nil && mode == .cartesian ? .sample : mode
        self.sample = sample
        self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case template, turns, variables, expected, criteria, system, tags, id, mode, sample, metadata
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        template = try c.decodeIfPresent(String.self, forKey: .template)
        turns = try c.decodeIfPresent([String].self, forKey: .turns)
        let raw = try c.decodeIfPresent([String: [JSONValue]].self, forKey: .variables) ?? [:]
        var variables: [String: [String]] = [:]
        for (name, values) in raw {
            variables[name] = try values.map { value in
                switch value {
                case .string(let text): return text
                case .int(let number): return String(number)
                case .double(let number): return String(number)
                case .bool(let flag): return String(flag)
                default:
                    throw DecodingError.dataCorruptedError(
                        forKey: .variables, in: c, debugDescription: "values of variable '\(name)' must be strings or numbers")
                }
            }
            if values.isEmpty {
                throw DecodingError.dataCorruptedError(forKey: .variables, in: c, debugDescription: "variable '\(name)' has no values")
            }
        }
        self.variables = variables
        expected = try c.decodeIfPresent(String.self, forKey: .expected)
        criteria = try c.decodeIfPresent(String.self, forKey: .criteria)
        system = try c.decodeIfPresent(String.self, forKey: .system)
        tags = try c.decodeIfPresent([String].self, forKey: .tags) ?? []
        id = try c.decodeIfPresent(String.self, forKey: .id)
        sample = try c.decodeIfPresent(Int.self, forKey: .sample)
        mode = try c.decodeIfPresent(Mode.self, forKey: .mode) ?? (sample != nil ? .sample : .cartesian)
        metadata = try c.decodeIfPresent([String: JSONValue].self, forKey: .metadata) ?? [:]

        if (template == nil) == (turns == nil) {
            throw DecodingError.dataCorruptedError(
                forKey: .template, in: c, debugDescription: "a template needs exactly one of 'template' or 'turns'")
        }
        if let turns, turns.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .turns, in: c, debugDescription: "'turns' must not be empty")
        }
        if mode == .sample {
            guard let sample, sample >= 1 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .sample, in: c, debugDescription: "mode 'sample' needs 'sample: N' with N >= 1")
            }
        } else if sample != nil {
            throw DecodingError.dataCorruptedError(forKey: .sample, in: c, debugDescription: "'sample' is only allowed with mode 'sample'")
        }
        if mode == .zip, Set(variables.values.map(\.count)).count > 1 {
            throw DecodingError.dataCorruptedError(
                forKey: .variables, in: c, debugDescription: "mode 'zip' needs value lists of equal length")
        }
        // Parse every templated field and check its placeholders against the variables.
        var used = Set<String>()
        for (key, text) in templatedFields {
            let parsed: TextTemplate
            do {
                parsed = try TextTemplate(text)
            } catch {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: String(describing: error))
            }
            for name in parsed.variables where variables[name] == nil {
                let known = variables.keys.sorted().joined(separator: ", ")
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c,
                    debugDescription: "unknown variable '{\(name)}' (variables: \(known.isEmpty ? "none" : known))")
            }
            used.formUnion(parsed.variables)
        }
        if let unused = variables.keys.sorted().first(where: { !used.contains($0) }) {
            throw DecodingError.dataCorruptedError(
                forKey: .variables, in: c, debugDescription: "variable '\(unused)' is not used by any templated field")
        }
    }

    /// The templated fields with their keys, in a fixed order (input first).
    var templatedFields: [(CodingKeys, String)] {
        var fields: [(CodingKeys, String)] = []
        if let template { fields.append((.template, template)) }
        for turn in turns ?? [] { fields.append((.turns, turn)) }
        for (key, value) in [(CodingKeys.expected, expected), (.criteria, criteria), (.system, system), (.id, id)] {
            if let value { fields.append((key, value)) }
        }
        for tag in tags { fields.append((.tags, tag)) }
        return fields
    }

    /// Variable names in a stable order: first use across the templated fields.
    public var orderedVariables: [String] {
        var seen = Set<String>()
        var names: [String] = []
        for (_, text) in templatedFields {
            for name in (try? TextTemplate(text))?.variables ?? [] where variables[name] != nil && seen.insert(name).inserted {
                names.append(name)
            }
        }
        return names + variables.keys.sorted().filter { !seen.contains($0) }
    }
}
