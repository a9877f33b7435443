import ChatbotTesterCore
import Foundation
import Yams

/// A parsed YAML or JSON config file: its value plus the line each field path was written on, so
/// errors can say `job.yaml:12: field 'run.concurrency'`.
public struct ConfigDocument: Sendable {
    /// The whole document as JSON.
    public var value: JSONValue
    /// Where it came from (a path, or `<inline>`).
    public var source: String
    /// Field path (`run.concurrency`, `evaluate.metrics[1].type`) → 1-based line.
    public var lines: [String: Int]
    /// Every string written with `${NAME}` / `${NAME:-default}`, in document order: `value` holds
    /// them expanded, ``asWritten`` as written.
    public var expansions: [Expansion]
    /// The values the variables named in ``expansions`` had when they were expanded (unset ones
    /// absent). Never written anywhere: it lets a job register the values that build credentials
    /// with the ``SecretMasker``.
    public internal(set) var expandedVariables: [String: String] = [:]

    public init(value: JSONValue, source: String = "<inline>", lines: [String: Int] = [:], expansions: [Expansion] = []) {
        self.value = value
        self.source = source
        self.lines = lines
        self.expansions = expansions
    }

    /// One string of the document written with environment variables.
    public struct Expansion: Sendable, Hashable, Codable {
        /// Where it sits: object keys (strings) and array indices (integers) from the root.
        public var path: [JSONValue]
        /// The string as written, e.g. `Bearer ${BOT_TOKEN}`.
        public var template: String
        /// Whether the string was an unquoted lone variable, whose value takes the type of what it
        /// expands to (`concurrency: ${WORKERS:-8}` is a number).
        public var typed: Bool

        public init(path: [JSONValue], template: String, typed: Bool) {
            self.path = path
            self.template = template
            self.typed = typed
        }

        /// The field path (`backends.bot.headers.Authorization`), for errors and line lookup.
        public var field: String {
            var out = ""
            for component in path {
                if let index = component.intValue {
                    out += "[\(index)]"
                } else {
                    out += (out.isEmpty ? "" : ".") + (component.stringValue ?? "")
                }
            }
            return out
        }

        /// The variable names the template uses, in order of first use.
        public var variables: [String] {
            var names: [String] = []
            _ = try? ConfigDocument.expand(template, unset: { _ in ChatbotTesterError(.invalidConfig, "") }) { name in
                if !names.contains(name) { names.append(name) }
                return "x"
            }
            return names
        }
    }

    /// The document as written: every expanded string back to its `${…}` template. This is what
    /// `job.json` and cluster workers get; each reader expands it in its own environment.
    public var asWritten: JSONValue {
        var out = value
        for expansion in expansions {
            out = Self.setting(out, at: expansion.path[...], to: .string(expansion.template))
        }
        return out
    }

    /// The environment variables the document uses, sorted (a plan digests their values).
    public var environmentVariables: [String] {
        Array(Set(expansions.flatMap(\.variables))).sorted()
    }

    /// The document as it travels and is recorded: `config` (as written), `expansions` and
    /// `environmentVariables`. ``recorded(_:source:environment:)`` reads it back.
    public var recordFields: [String: JSONValue] {
        var fields: [String: JSONValue] = ["config": asWritten]
        if !expansions.isEmpty {
            fields["expansions"] = (try? JSONValue(encoding: expansions)) ?? []
            fields["environmentVariables"] = .array(environmentVariables.map(JSONValue.string))
        }
        return fields
    }

    /// Rebuilds a document from its ``recordFields`` (job.json, a worker's welcome), expanding its
    /// variables in `environment` — the reader's own, as the single-process run expands them in its.
    /// An unset variable without a default is an error naming the field.
    public static func recorded(
        _ fields: JSONValue, source: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ConfigDocument {
        guard let config = fields["config"], config.objectValue != nil else {
            throw ChatbotTesterError(.invalidConfig, "no job config ('config') in \(source)", location: SourceLocation(source: source, field: "config"))
        }
        var expansions: [Expansion] = []
        if let list = fields["expansions"], !list.isNull {
            do {
                expansions = try list.decode([Expansion].self)
            } catch {
                throw ChatbotTesterError(.invalidConfig, "unreadable 'expansions'", location: SourceLocation(source: source, field: "expansions"), cause: error)
            }
        }
        var document = ConfigDocument(value: config, source: source, expansions: expansions)
        var looked: [String: String] = [:]
        for expansion in expansions {
            let expanded = try expand(expansion.template) { name in
                ChatbotTesterError(
                    .invalidConfig, "environment variable \(name) is not set (give a default: ${\(name):-value})",
                    location: SourceLocation(source: source, field: expansion.field))
            } lookup: { name in
                let found = environment[name]
                if let found { looked[name] = found }
                return found
            }
            document.value = setting(document.value, at: expansion.path[...], to: expansion.typed ? inferType(expanded) : .string(expanded))
        }
        document.expandedVariables = looked
        return document
    }

    /// `value` with the member at `path` replaced (paths that do not exist are left alone).
    static func setting(_ value: JSONValue, at path: ArraySlice<JSONValue>, to new: JSONValue) -> JSONValue {
        guard let first = path.first else { return new }
        switch value {
        case .object(var object):
            guard let key = first.stringValue, let child = object[key] else { return value }
            object[key] = setting(child, at: path.dropFirst(), to: new)
            return .object(object)
        case .array(var items):
            guard let index = first.intValue, items.indices.contains(index) else { return value }
            items[index] = setting(items[index], at: path.dropFirst(), to: new)
            return .array(items)
        default:
            return value
        }
    }

    /// Reads a YAML (`.yaml`, `.yml`) or JSON file. YAML is a superset of JSON, so both go through
    /// the YAML parser, which also keeps line numbers.
    public static func load(
        contentsOf url: URL, environment: [String: String]? = nil
    ) throws -> ConfigDocument {
        // Read at most one byte past the limit, from a file or FIFO (a device such as /dev/zero is
        // refused), so no input can grow memory without end.
        let data: Data
        do {
            let handle = try JSONL.openInput(url)
            defer { try? handle.close() }
            data = try handle.read(upToCount: maxDocumentBytes + 1) ?? Data()
        } catch var error as ChatbotTesterError {
            error.code = .invalidConfig
            throw error
        } catch {
            throw ChatbotTesterError(.invalidConfig, "cannot read config file", location: SourceLocation(source: url.path), cause: error)
        }
        if data.count > maxDocumentBytes { throw tooLarge(source: url.path) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ChatbotTesterError(.invalidConfig, "the config file is not UTF-8 text", location: SourceLocation(source: url.path))
        }
        return try parse(text, source: url.path, environment: environment)
    }

    /// Parses YAML or JSON text.
    ///
    /// With an `environment` (job configs pass the process's), string values may name environment
    /// variables: `${NAME}` or `${NAME:-default}` (`$${` is a
    /// literal `${`). An unquoted value that is only a variable takes the type of what it expands to
    /// (`concurrency: ${WORKERS:-8}` is a number). A variable that is unset and has no default is an
    /// error naming the line. Secrets still must be `{env: NAME}` references: an expanded key is a
    /// literal and is refused where a secret is expected.
    public static func parse(
        _ text: String, source: String = "<inline>", environment: [String: String]? = nil
    ) throws -> ConfigDocument {
        if text.utf8.count > maxDocumentBytes { throw tooLarge(source: source) }
        let node: Node?
        // Without a tag (`!`) every plain scalar is typed by `YAMLPlainScalar`, which gives what
        // `Resolver.default` gives without compiling its regular expressions; a tagged document is
        // resolved by Yams (an explicit `!!str yes` must stay a string).
        let typesPlainScalars = !text.utf8.contains(UInt8(ascii: "!"))
        do {
            node = try Yams.compose(yaml: text, typesPlainScalars ? .basic : .default)
        } catch let error as YamlError {
            throw ChatbotTesterError(.invalidConfig, "not valid YAML: \(Self.yamlProblem(error))", location: SourceLocation(source: source, line: Self.yamlLine(error)))
        } catch {
            throw ChatbotTesterError(.invalidConfig, "not valid YAML", location: SourceLocation(source: source), cause: error)
        }
        guard let node else {
            throw ChatbotTesterError(.invalidConfig, "the config file is empty", location: SourceLocation(source: source))
        }
        var budget = maxExpandedNodes
        try checkExpansion(node, budget: &budget, source: source)
        var parse = ParseState(typesPlainScalars: typesPlainScalars)
        let value = try convert(node, path: "", components: [], state: &parse, source: source, environment: environment)
        var document = ConfigDocument(value: value, source: source, lines: parse.lines, expansions: parse.expansions)
        document.expandedVariables = parse.looked
        return document
    }

    /// The largest config file read: 4 MiB (a config names its dataset; it does not hold one).
    public static let maxDocumentBytes = 4 << 20

    /// The most values a config may hold once YAML aliases are expanded. An ordinary config with
    /// anchors has hundreds; a "billion laughs" document has billions and is refused at once.
    public static let maxExpandedNodes = 100_000

    static func tooLarge(source: String) -> ChatbotTesterError {
        ChatbotTesterError(
            .invalidConfig, "the config file is larger than \(maxDocumentBytes >> 20) MiB", location: SourceLocation(source: source))
    }

    /// Counts the values of the document as aliases expand them (Yams shares an aliased node, so
    /// the composed tree is small, but converting it would copy every expansion), stopping as soon
    /// as `budget` runs out.
    static func checkExpansion(_ node: Node, budget: inout Int, source: String) throws {
        budget -= 1
        if budget < 0 {
            throw ChatbotTesterError(
                .invalidConfig,
                "the config expands to more than \(maxExpandedNodes) values (YAML aliases nested too deep: a \"billion laughs\" document?)",
                location: SourceLocation(source: source, line: node.mark?.line))
        }
        switch node {
        case .scalar, .alias: return
        case .sequence(let sequence):
            for element in sequence { try checkExpansion(element, budget: &budget, source: source) }
        case .mapping(let mapping):
            for (key, value) in mapping {
                try checkExpansion(key, budget: &budget, source: source)
                try checkExpansion(value, budget: &budget, source: source)
            }
        }
    }

    /// The line of `path`, or of its nearest written parent.
    public func line(of path: String) -> Int? {
        var current = path
        while true {
            if let line = lines[current] { return line }
            guard let cut = current.lastIndex(where: { $0 == "." || $0 == "[" }) else { return lines[""] }
            current = String(current[..<cut])
        }
    }

    /// A location naming this document, the line of `field` and the field.
    public func location(of field: String) -> SourceLocation {
        SourceLocation(source: source, line: line(of: field), field: field.isEmpty ? nil : field)
    }

    /// Decodes the value at `key` (a top-level section) as `T`; errors name file, line and field.
    public func decode<T: Decodable>(_ type: T.Type, at key: String? = nil) throws -> T {
        let target = key.map { value[$0] ?? .null } ?? value
        do {
            return try target.decode(T.self)
        } catch let error as DecodingError {
            let inner = error.fieldPath
            let field = [key, inner.isEmpty ? nil : inner].compactMap { $0 }.joined(separator: inner.hasPrefix("[") ? "" : ".")
            throw ChatbotTesterError(.invalidConfig, error.shortMessage, location: location(of: field))
        } catch var error as ChatbotTesterError {
            if error.location?.source == nil {
                let field = [key, error.location?.field].compactMap { $0 }.joined(separator: ".")
                error.location = location(of: field)
            }
            throw error
        }
    }

    /// Fills in source and line on an error whose location names only a field.
    public func locate(_ error: any Error) -> any Error {
        guard var tester = error as? ChatbotTesterError else { return error }
        if tester.location?.source == nil, let field = tester.location?.field {
            tester.location = location(of: field)
        }
        return tester
    }

    /// What parsing collects besides the value.
    private struct ParseState {
        /// The document was composed with `Resolver.basic`: plain scalars are typed by `YAMLPlainScalar`.
        var typesPlainScalars = false
        var lines: [String: Int] = [:]
        var expansions: [Expansion] = []
        var looked: [String: String] = [:]
    }

    private static func convert(
        _ node: Node, path: String, components: [JSONValue], state: inout ParseState, source: String, environment: [String: String]?
    ) throws -> JSONValue {
        if let mark = node.mark { state.lines[path] = mark.line }
        switch node {
        case .scalar(let scalar):
            var tag = Tag.Name(rawValue: node.tag.rawValue)
            var typed = node
            if state.typesPlainScalars, scalar.style == .plain, tag == .str {
                tag = YAMLPlainScalar.tag(of: scalar.string)
                // Yams reads a scalar's value by its tag (a `str` is never a bool): retagged as typed,
                // with the basic resolver (naming the default one would compile its expressions).
                if tag != .str { typed = .scalar(Node.Scalar(scalar.string, Tag(tag, .basic, .default), scalar.style, scalar.mark)) }
            }
            switch tag {
            case .null: return .null
            case .bool: return typed.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case .int: return typed.int.map(JSONValue.int) ?? .string(scalar.string)
            case .float: return typed.float.map(JSONValue.double) ?? .string(scalar.string)
            default:
                guard let environment, scalar.string.contains("$") else { return .string(scalar.string) }
                var looked: [String: String] = [:]
                let expanded = try expand(scalar.string) { name in
                    ChatbotTesterError(
                        .invalidConfig, "environment variable \(name) is not set (give a default: ${\(name):-value})",
                        location: SourceLocation(source: source, line: node.mark?.line, field: path.isEmpty ? nil : path))
                } lookup: { name in
                    let found = environment[name]
                    if let found { looked[name] = found }
                    return found
                }
                state.looked.merge(looked) { old, _ in old }
                let wholeVariable = scalar.string.hasPrefix("${") && scalar.string.hasSuffix("}") && scalar.style == .plain
                state.expansions.append(Expansion(path: components, template: scalar.string, typed: wholeVariable))
                return wholeVariable ? inferType(expanded) : .string(expanded)
            }
        case .sequence(let sequence):
            var items: [JSONValue] = []
            for (index, element) in sequence.enumerated() {
                items.append(
                    try convert(
                        element, path: "\(path)[\(index)]", components: components + [.int(index)], state: &state, source: source,
                        environment: environment))
            }
            return .array(items)
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (keyNode, valueNode) in mapping {
                guard let key = keyNode.string else {
                    throw ChatbotTesterError(
                        .invalidConfig, "mapping keys must be strings",
                        location: SourceLocation(source: source, line: keyNode.mark?.line, field: path.isEmpty ? nil : path))
                }
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                if object[key] != nil {
                    throw ChatbotTesterError(
                        .invalidConfig, "duplicate key '\(key)'",
                        location: SourceLocation(source: source, line: keyNode.mark?.line, field: childPath))
                }
                object[key] = try convert(
                    valueNode, path: childPath, components: components + [.string(key)], state: &state, source: source,
                    environment: environment)
                if let mark = keyNode.mark { state.lines[childPath] = mark.line }
            }
            return .object(object)
        case .alias:
            throw ChatbotTesterError(
                .invalidConfig, "YAML aliases are not supported",
                location: SourceLocation(source: source, line: node.mark?.line, field: path))
        }
    }

    /// Expands `${NAME}` and `${NAME:-default}`; `$${` stays a literal `${`.
    static func expand(
        _ text: String, unset: (String) -> ChatbotTesterError, lookup: (String) -> String?
    ) throws -> String {
        var out = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.hasPrefix("${") {
                out += "${"
                rest = after.dropFirst(2)
                continue
            }
            guard after.hasPrefix("{"), let close = after.firstIndex(of: "}") else {
                out += "$"
                rest = after
                continue
            }
            let body = after[after.index(after: after.startIndex)..<close]
            let name: Substring
            var fallback: Substring?
            if let marker = body.range(of: ":-") {
                name = body[..<marker.lowerBound]
                fallback = body[marker.upperBound...]
            } else {
                name = body
            }
            if let value = lookup(String(name)), !value.isEmpty {
                out += value
            } else if let fallback {
                out += fallback
            } else {
                throw unset(String(name))
            }
            rest = after[after.index(after: close)...]
        }
        return out + rest
    }

    /// The JSON type an unquoted expanded value would have had in YAML.
    static func inferType(_ text: String) -> JSONValue {
        if let int = Int(text) { return .int(int) }
        if let double = Double(text), text.contains(".") { return .double(double) }
        switch text.lowercased() {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "null", "~", "": return .null
        default: return .string(text)
        }
    }

    private static func yamlLine(_ error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    private static func yamlProblem(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
            .composer(let context, let problem, _, _):
            (context.map { "\($0.text) " } ?? "") + problem
        default: String(describing: error)
        }
    }
}
