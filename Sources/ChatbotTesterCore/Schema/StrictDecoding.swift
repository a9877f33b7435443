import Foundation

/// A coding key for any string or integer, used to see every key of a JSON object.
public struct AnyCodingKey: CodingKey, Hashable, Sendable {
    public var stringValue: String
    public var intValue: Int?
    public init(stringValue: String) { self.stringValue = stringValue }
    public init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
    public init(_ string: String) { self.stringValue = string }
}

extension Decoder {
    /// Throws a `DecodingError` naming the first key of the current object that is not in `allowed`.
    ///
    /// Strict schemas call this first in `init(from:)`, so a misspelt field is an error rather than
    /// silently ignored data. Free-form data belongs under `metadata`.
    ///
    /// A key is known when `Key(stringValue:)` accepts it — for a `CodingKeys` enum exactly the names
    /// of `allCases` — so the happy path builds no set and sorts nothing. When several keys are
    /// unknown, the error names the alphabetically first, so the message does not depend on the
    /// order of the keys in the text.
    public func rejectUnknownKeys<Key: CodingKey & CaseIterable>(_ allowed: Key.Type) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        guard let unknown = UnknownKeys.first(of: container, isKnown: { Key(stringValue: $0) != nil }) else { return }
        throw UnknownKeys.error(unknown, in: container, allowed: Key.allCases.map(\.stringValue))
    }

    /// The keyed container of a strict schema: `rejectUnknownKeys(Key.self)`, then the container.
    public func strictContainer<Key: CodingKey & CaseIterable>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        try rejectUnknownKeys(type)
        return try container(keyedBy: type)
    }

    /// Throws a `DecodingError` naming the first key of the current object that is not in `allowed`.
    public func rejectUnknownKeys(_ allowed: Set<String>) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        guard let unknown = UnknownKeys.first(of: container, isKnown: allowed.contains) else { return }
        throw UnknownKeys.error(unknown, in: container, allowed: Array(allowed))
    }
}

/// The unknown-key search and its error, shared by both `rejectUnknownKeys` overloads.
enum UnknownKeys {
    /// The alphabetically first key that `isKnown` rejects, found without sorting.
    static func first(
        of container: KeyedDecodingContainer<AnyCodingKey>, isKnown: (String) -> Bool
    ) -> AnyCodingKey? {
        var first: AnyCodingKey?
        for key in container.allKeys where !isKnown(key.stringValue) {
            if let current = first, current.stringValue <= key.stringValue { continue }
            first = key
        }
        return first
    }

    static func error(
        _ key: AnyCodingKey, in container: KeyedDecodingContainer<AnyCodingKey>, allowed: [String]
    ) -> DecodingError {
        DecodingError.dataCorrupted(
            .init(
                codingPath: container.codingPath + [key],
                debugDescription: "unknown field '\(key.stringValue)' (allowed: \(allowed.sorted().joined(separator: ", ")))"
            ))
    }
}

extension DecodingError {
    /// The dotted field path the error points at, such as `turns[1].content`.
    public var fieldPath: String {
        let path: [any CodingKey]
        switch self {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            path = context.codingPath
        case .keyNotFound(let key, let context):
            path = context.codingPath + [key]
        @unknown default:
            path = []
        }
        return DecodingError.render(path)
    }

    /// A short human message without Swift type noise.
    public var shortMessage: String {
        switch self {
        case .typeMismatch(let type, let context):
            return "expected \(DecodingError.jsonName(type)): \(context.debugDescription)"
        case .valueNotFound(let type, _):
            return "missing value (expected \(DecodingError.jsonName(type)))"
        case .keyNotFound(let key, _):
            return "missing required field '\(key.stringValue)'"
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError as NSError? {
                let detail = underlying.userInfo[NSDebugDescriptionErrorKey] as? String ?? underlying.localizedDescription
                return "\(context.debugDescription) \(detail)"
            }
            return context.debugDescription
        @unknown default:
            return String(describing: self)
        }
    }

    static func render(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue, key.stringValue == String(index) || key.stringValue.hasPrefix("Index ") {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }

    static func jsonName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : (String(describing: type).hasPrefix("Dictionary") ? "an object" : String(describing: type))
        }
    }
}

extension ChatbotTesterError {
    /// Converts a decoding failure into an `invalidInput` error naming source, line and field.
    public static func decoding(_ error: any Error, source: String?, line: Int?) -> ChatbotTesterError {
        if let error = error as? ChatbotTesterError {
            var copy = error
            copy.location = SourceLocation(source: source, line: line, field: error.location?.field)
            return copy
        }
        if let error = error as? DecodingError {
            let field = error.fieldPath
            return ChatbotTesterError(
                .invalidInput, error.shortMessage,
                location: SourceLocation(source: source, line: line, field: field.isEmpty ? nil : field))
        }
        return ChatbotTesterError(
            .invalidInput, "not valid JSON (\(error.localizedDescription))",
            location: SourceLocation(source: source, line: line))
    }
}

/// The JSON encoders and decoders every record uses: ISO-8601 dates, sorted keys.
public enum JSONCoding {
    /// A compact encoder with sorted keys and ISO-8601 dates.
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// A decoder with ISO-8601 dates, which refuses nesting too deep for `JSONDecoder` before it
    /// sees it (`NestingCheckedJSONDecoder`).
    public static func decoder() -> JSONDecoder {
        let decoder = NestingCheckedJSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// Decodes a value as `decoder` does; `TestSample`, `RunRecord` and `EvalRecord` in their usual
    /// shapes go through the byte parser instead of `JSONDecoder` (several times faster, the same
    /// value: a differential test checks every field), anything else through `decoder`, which also
    /// gives every error.
    public static func decodeRecord<Value: Decodable>(_ type: Value.Type, from bytes: Data, decoder: JSONDecoder) throws -> Value {
        if case .iso8601 = decoder.dateDecodingStrategy, let fast = FastRecordDecoding.decode(type, from: bytes) { return fast }
        return try decoder.decode(type, from: bytes)
    }
}
