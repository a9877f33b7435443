import Foundation

/// The checks Foundation's `JSONDecoder` leaves out, run over a JSON text before it is decoded.
///
/// `JSONDecoder` silently keeps one of two duplicate keys, accepts trailing commas, a byte order
/// mark before any value and UTF-16 or UTF-32 text. A dataset line or record with any of these is
/// refused here with a message and the field path:
///
/// - a key written twice in one object (`duplicate key 'id'`);
/// - a comma before `}` or `]`;
/// - a byte order mark (only the reader strips one, at the very start of a file);
/// - text that is not UTF-8 (NUL bytes, a UTF-16/32 byte order mark);
/// - nesting deeper than `maxDepth`.
///
/// The scan is linear in the text: string bodies are skipped with `memchr`. Anything else that is
/// not JSON is left to the decoder, which reports it.
public enum StrictJSONSyntax {
    /// The deepest nesting of objects and arrays accepted.
    public static let maxDepth = 256

    /// Throws an `invalidInput` error (with the field path) for the first problem in `data`.
    public static func check(_ data: Data) throws {
        try data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            var scanner = Scanner(bytes: base, count: raw.count)
            do {
                try scanner.document()
            } catch let problem as Problem {
                if case .notJSON = problem { return }
                throw problem.error(path: scanner.path)
            }
        }
    }

    /// Why the scan stopped.
    enum Problem: Error {
        /// Not JSON in a way the decoder reports itself.
        case notJSON
        case duplicateKey(String)
        case trailingComma
        case byteOrderMark
        case notUTF8
        case tooDeep

        func error(path: [PathComponent]) -> ChatbotTesterError {
            var field = PathComponent.render(path)
            let message: String
            switch self {
            case .notJSON: message = "not valid JSON"
            case .duplicateKey(let key):
                message = "duplicate key '\(key)'"
                field = PathComponent.render(path + [.key(key)])
            case .trailingComma: message = "trailing comma (not allowed in JSON)"
            case .byteOrderMark: message = "byte order mark (U+FEFF) inside the file: only its very start may have one"
            case .notUTF8: message = "the text is not UTF-8 (UTF-16 or UTF-32?): save the file as UTF-8"
            case .tooDeep: message = "nested deeper than \(StrictJSONSyntax.maxDepth) levels"
            }
            return ChatbotTesterError(.invalidInput, message, location: SourceLocation(field: field.isEmpty ? nil : field))
        }
    }

    /// One step of the path to the value being scanned.
    enum PathComponent {
        case key(String)
        case index(Int)

        static func render(_ path: [PathComponent]) -> String {
            var text = ""
            for component in path {
                switch component {
                case .key(let key): text += text.isEmpty ? key : ".\(key)"
                case .index(let index): text += "[\(index)]"
                }
            }
            return text
        }
    }

    /// A recursive-descent scan over the bytes that builds no values.
    struct Scanner {
        let bytes: UnsafePointer<UInt8>
        let count: Int
        var index = 0
        var path: [PathComponent] = []

        init(bytes: UnsafePointer<UInt8>, count: Int) {
            self.bytes = bytes
            self.count = count
        }

        mutating func document() throws {
            try value(depth: 0)
            skipSpace()
            if index < count { throw unexpected(bytes[index]) }
        }

        mutating func skipSpace() {
            while index < count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        /// The problem a byte that cannot start the expected token stands for.
        func unexpected(_ byte: UInt8) -> Problem {
            switch byte {
            case 0x00, 0xFE, 0xFF: .notUTF8
            case 0xEF where index + 2 < count && bytes[index + 1] == 0xBB && bytes[index + 2] == 0xBF: .byteOrderMark
            default: .notJSON
            }
        }

        mutating func value(depth: Int) throws {
            skipSpace()
            guard index < count else { throw Problem.notJSON }
            switch bytes[index] {
            case UInt8(ascii: "{"): try object(depth: depth + 1)
            case UInt8(ascii: "["): try array(depth: depth + 1)
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                scalar()
            case let byte: throw unexpected(byte)
            }
        }

        /// Skips a number or literal; the decoder checks its spelling.
        mutating func scalar() {
            while index < count {
                switch bytes[index] {
                case UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), 0x20, 0x09, 0x0A, 0x0D, 0x00: return
                default: index += 1
                }
            }
        }

        /// Skips a string and returns the range of its body (without quotes) and whether it has escapes.
        mutating func string() throws -> (body: Range<Int>, escaped: Bool) {
            index += 1
            let start = index
            var escaped = false
            while true {
                guard let quote = find(UInt8(ascii: "\""), from: index, to: count) else { throw Problem.notJSON }
                guard let backslash = find(UInt8(ascii: "\\"), from: index, to: quote) else {
                    index = quote + 1
                    return (start..<quote, escaped)
                }
                escaped = true
                index = backslash + 2
                guard index <= count else { throw Problem.notJSON }
            }
        }

        func find(_ byte: UInt8, from start: Int, to end: Int) -> Int? {
            guard start < end, let hit = memchr(bytes + start, Int32(byte), end - start) else { return nil }
            return UnsafeRawPointer(bytes).distance(to: UnsafeRawPointer(hit))
        }

        func key(_ body: Range<Int>, escaped: Bool) throws -> String {
            let raw = UnsafeBufferPointer(start: bytes + body.lowerBound, count: body.count)
            guard escaped else { return String(decoding: raw, as: UTF8.self) }
            var quoted = Data([UInt8(ascii: "\"")])
            quoted.append(raw)
            quoted.append(UInt8(ascii: "\""))
            guard let key = try? JSONDecoder().decode(String.self, from: quoted) else { throw Problem.notJSON }
            return key
        }

        mutating func object(depth: Int) throws {
            if try opensEmpty(closing: UInt8(ascii: "}"), depth: depth) { return }
            var keys = Set<String>()
            while true {
                skipSpace()
                guard index < count else { throw Problem.notJSON }
                guard bytes[index] == UInt8(ascii: "\"") else {
                    throw bytes[index] == UInt8(ascii: "}") && !keys.isEmpty ? Problem.trailingComma : unexpected(bytes[index])
                }
                let (body, escaped) = try string()
                let name = try key(body, escaped: escaped)
                guard keys.insert(name).inserted else { throw Problem.duplicateKey(name) }
                skipSpace()
                guard index < count, bytes[index] == UInt8(ascii: ":") else { throw index < count ? unexpected(bytes[index]) : .notJSON }
                index += 1
                path.append(.key(name))
                try value(depth: depth)
                path.removeLast()
                if try endOfMember(closing: UInt8(ascii: "}")) { return }
            }
        }

        /// Enters an object or array (checking the depth); true when it is empty and already closed.
        mutating func opensEmpty(closing: UInt8, depth: Int) throws -> Bool {
            guard depth <= StrictJSONSyntax.maxDepth else { throw Problem.tooDeep }
            index += 1
            skipSpace()
            guard index < count, bytes[index] == closing else { return false }
            index += 1
            return true
        }

        /// After a member or element: skips a comma (false) or the closing bracket (true).
        mutating func endOfMember(closing: UInt8) throws -> Bool {
            skipSpace()
            guard index < count else { throw Problem.notJSON }
            switch bytes[index] {
            case UInt8(ascii: ","):
                index += 1
                return false
            case closing:
                index += 1
                return true
            case let byte: throw unexpected(byte)
            }
        }

        mutating func array(depth: Int) throws {
            if try opensEmpty(closing: UInt8(ascii: "]"), depth: depth) { return }
            var element = 0
            while true {
                skipSpace()
                if element > 0, index < count, bytes[index] == UInt8(ascii: "]") { throw Problem.trailingComma }
                path.append(.index(element))
                try value(depth: depth)
                path.removeLast()
                element += 1
                if try endOfMember(closing: UInt8(ascii: "]")) { return }
            }
        }
    }
}
