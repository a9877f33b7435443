import Foundation

/// A string with `{name}` placeholders; `{{` and `}}` stand for literal braces.
public struct TextTemplate: Sendable, Hashable {
    enum Piece: Sendable, Hashable {
        case literal(String)
        case variable(String)
    }

    /// The template as written.
    public let source: String
    let pieces: [Piece]

    /// Parses a template.
    /// - Throws: `TextTemplate.ParseError` for an unclosed `{`, an empty `{}` or a stray `}`.
    public init(_ source: String) throws {
        self.source = source
        var pieces: [Piece] = []
        var literal = ""
        var index = source.startIndex
        while index < source.endIndex {
            let character = source[index]
            let next = source.index(after: index)
            if character == "{" {
                if next < source.endIndex, source[next] == "{" {
                    literal.append("{")
                    index = source.index(after: next)
                    continue
                }
                guard let close = source[next...].firstIndex(of: "}") else {
                    throw ParseError(message: "unclosed '{' in template \"\(source)\"")
                }
                let name = source[next..<close].trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty, !name.contains("{") else {
                    throw ParseError(message: "empty or nested placeholder in template \"\(source)\"")
                }
                if !literal.isEmpty { pieces.append(.literal(literal)) }
                literal = ""
                pieces.append(.variable(name))
                index = source.index(after: close)
            } else if character == "}" {
                guard next < source.endIndex, source[next] == "}" else {
                    throw ParseError(message: "stray '}' in template \"\(source)\" (write '}}' for a literal brace)")
                }
                literal.append("}")
                index = source.index(after: next)
            } else {
                literal.append(character)
                index = next
            }
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.pieces = pieces
    }

    /// The placeholder names, in order of first use.
    public var variables: [String] {
        var seen = Set<String>()
        return pieces.compactMap { piece in
            if case .variable(let name) = piece, seen.insert(name).inserted { return name }
            return nil
        }
    }

    /// The text with each placeholder replaced by its value; unknown names are left as `{name}`
    /// (the spec rejects them before rendering).
    public func render(_ values: [String: String]) -> String {
        pieces.map { piece in
            switch piece {
            case .literal(let text): text
            case .variable(let name): values[name] ?? "{\(name)}"
            }
        }.joined()
    }

    /// A template syntax error.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
