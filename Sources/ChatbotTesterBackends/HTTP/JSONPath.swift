import ChatbotTesterCore

/// A small JSON path: `$.data.reply`, `choices[0].message.content`, `$['odd key'][2]`.
///
/// Member names, array indices (negative counts from the end) and quoted names; no wildcards or
/// filters. The leading `$` is optional.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    /// One step of a path.
    public enum Step: Sendable, Hashable {
        case member(String)
        case index(Int)
    }

    public let steps: [Step]
    public let description: String

    /// Parses a path; throws a message describing the problem.
    public init(_ text: String) throws(JSONPathError) {
        description = text
        var steps: [Step] = []
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        if rest.hasPrefix("$") { rest.removeFirst() }
        var expectName = !rest.isEmpty && !rest.hasPrefix(".") && !rest.hasPrefix("[")
        while !rest.isEmpty || expectName {
            if expectName || rest.hasPrefix(".") {
                if !expectName { rest.removeFirst() }
                expectName = false
                let name = rest.prefix { $0 != "." && $0 != "[" }
                guard !name.isEmpty else { throw JSONPathError(path: text, message: "empty member name") }
                steps.append(.member(String(name)))
                rest = rest.dropFirst(name.count)
            } else if rest.hasPrefix("[") {
                rest.removeFirst()
                guard let close = rest.firstIndex(of: "]") else { throw JSONPathError(path: text, message: "missing ']'") }
                let inside = rest[..<close].trimmingCharacters(in: .whitespaces)
                rest = rest[rest.index(after: close)...]
                if let quote = inside.first, quote == "'" || quote == "\"", inside.count >= 2, inside.last == quote {
                    steps.append(.member(String(inside.dropFirst().dropLast())))
                } else if let index = Int(inside) {
                    steps.append(.index(index))
                } else {
                    throw JSONPathError(path: text, message: "'[\(inside)]' is neither an index nor a quoted name")
                }
            } else {
                throw JSONPathError(path: text, message: "unexpected '\(rest.prefix(1))'")
            }
        }
        self.steps = steps
    }

    /// The value at this path, or `nil` when any step is missing.
    public func evaluate(_ value: JSONValue) -> JSONValue? {
        var current = value
        for step in steps {
            switch step {
            case .member(let name):
                guard let next = current[name] else { return nil }
                current = next
            case .index(let index):
                guard let array = current.arrayValue else { return nil }
                let position = index < 0 ? array.count + index : index
                guard array.indices.contains(position) else { return nil }
                current = array[position]
            }
        }
        return current
    }
}

/// A JSON path that cannot be parsed.
public struct JSONPathError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "invalid JSON path '\(path)': \(message)" }
}

extension ComponentOptions {
    /// A JSON path option, or `nil` when absent; parse errors name the field.
    func jsonPath(_ key: String) throws -> JSONPath? {
        guard let text = try string(key) else { return nil }
        do {
            return try JSONPath(text)
        } catch {
            throw ChatbotTesterError(.invalidConfig, error.description, location: SourceLocation(field: context.fieldPath(key)))
        }
    }
}
