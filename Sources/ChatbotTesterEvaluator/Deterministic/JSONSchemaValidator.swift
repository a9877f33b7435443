import ChatbotTesterCore
import Foundation

/// Validates JSON values against a JSON Schema (draft 2020-12 subset).
///
/// Covered keywords: `type` (a name or a list; `integer` accepts integral numbers), `enum`, `const`,
/// `properties`, `required`, `additionalProperties` (`false` or a schema), `items` (one schema for
/// every element), `minItems`, `maxItems`, `uniqueItems`, `minimum`, `maximum`, `exclusiveMinimum`,
/// `exclusiveMaximum`, `multipleOf`, `minLength`, `maxLength` (counted in Unicode code points),
/// `pattern` (ICU regular expression, searched anywhere like ECMA-262), `allOf`, `anyOf`, `oneOf`,
/// `not`, and the boolean schemas `true`/`false`.
/// Not covered (ignored): `$ref`/`$defs`, `prefixItems`, `contains`, `patternProperties`,
/// `dependentRequired`, `if`/`then`/`else`, `format`, `unevaluated*`.
public struct JSONSchemaValidator: Sendable {
    public let schema: JSONValue

    public init(schema: JSONValue) {
        self.schema = schema
    }

    /// One violation: a JSON-pointer-like path (`$.items[2].name`) and what is wrong.
    public struct Violation: Sendable, Hashable, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { "\(path): \(message)" }
    }

    /// Every violation of `value` (empty when valid), at most `limit`.
    public func validate(_ value: JSONValue, limit: Int = 20) -> [Violation] {
        var out: [Violation] = []
        check(value, against: schema, path: "$", into: &out, limit: limit)
        return out
    }

    private func check(_ value: JSONValue, against schema: JSONValue, path: String, into out: inout [Violation], limit: Int) {
        guard out.count < limit else { return }
        if let flag = schema.boolValue {
            if !flag { out.append(Violation(path: path, message: "no value is allowed here")) }
            return
        }
        guard let s = schema.objectValue else { return }
        func fail(_ message: String) { if out.count < limit { out.append(Violation(path: path, message: message)) } }

        if let type = s["type"] {
            let names = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue].compactMap { $0 }
            if !names.contains(where: { Self.matches(value, type: $0) }) {
                fail("expected \(names.joined(separator: " or ")), got \(Self.typeName(value))")
                return
            }
        }
        if let options = s["enum"]?.arrayValue, !options.contains(where: { Self.equal($0, value) }) {
            fail("must be one of \(options.map(\.canonicalText).joined(separator: ", "))")
        }
        if let constant = s["const"], !Self.equal(constant, value) {
            fail("must equal \(constant.canonicalText)")
        }
        switch value {
        case .object(let members):
            for key in (s["required"]?.arrayValue ?? []).compactMap(\.stringValue) where members[key] == nil {
                fail("missing required property '\(key)'")
            }
            let properties = s["properties"]?.objectValue ?? [:]
            for key in members.keys.sorted() {
                let child = "\(path).\(key)"
                if let sub = properties[key] {
                    check(members[key]!, against: sub, path: child, into: &out, limit: limit)
                } else if let extra = s["additionalProperties"] {
                    if extra.boolValue == false {
                        if out.count < limit { out.append(Violation(path: child, message: "additional property is not allowed")) }
                    } else {
                        check(members[key]!, against: extra, path: child, into: &out, limit: limit)
                    }
                }
            }
        case .array(let elements):
            if let min = s["minItems"]?.intValue, elements.count < min { fail("needs at least \(min) items, has \(elements.count)") }
            if let max = s["maxItems"]?.intValue, elements.count > max { fail("allows at most \(max) items, has \(elements.count)") }
            if s["uniqueItems"]?.boolValue == true, Set(elements.map(\.canonicalText)).count != elements.count {
                fail("items must be unique")
            }
            if let items = s["items"] {
                for (index, element) in elements.enumerated() {
                    check(element, against: items, path: "\(path)[\(index)]", into: &out, limit: limit)
                }
            }
        case .int, .double:
            let number = value.doubleValue!
            if let min = s["minimum"]?.doubleValue, number < min { fail("must be ≥ \(Self.format(min))") }
            if let max = s["maximum"]?.doubleValue, number > max { fail("must be ≤ \(Self.format(max))") }
            if let min = s["exclusiveMinimum"]?.doubleValue, number <= min { fail("must be > \(Self.format(min))") }
            if let max = s["exclusiveMaximum"]?.doubleValue, number >= max { fail("must be < \(Self.format(max))") }
            if let step = s["multipleOf"]?.doubleValue, step > 0 {
                let ratio = number / step
                if abs(ratio - ratio.rounded()) > 1e-9 { fail("must be a multiple of \(Self.format(step))") }
            }
        case .string(let text):
            let length = text.unicodeScalars.count
            if let min = s["minLength"]?.intValue, length < min { fail("must be at least \(min) characters") }
            if let max = s["maxLength"]?.intValue, length > max { fail("must be at most \(max) characters") }
            if let pattern = s["pattern"]?.stringValue {
                if let regex = try? CompiledRegex(pattern) {
                    if regex.firstMatch(in: text) == nil { fail("does not match pattern /\(pattern)/") }
                } else {
                    fail("schema pattern /\(pattern)/ is not a valid regular expression")
                }
            }
        default:
            break
        }
        if let all = s["allOf"]?.arrayValue {
            for sub in all { check(value, against: sub, path: path, into: &out, limit: limit) }
        }
        if let any = s["anyOf"]?.arrayValue, !any.contains(where: { validateOne(value, $0) }) {
            fail("matches none of the anyOf schemas")
        }
        if let one = s["oneOf"]?.arrayValue {
            let count = one.filter { validateOne(value, $0) }.count
            if count != 1 { fail("must match exactly one oneOf schema (matches \(count))") }
        }
        if let not = s["not"], validateOne(value, not) { fail("must not match the 'not' schema") }
    }

    private func validateOne(_ value: JSONValue, _ schema: JSONValue) -> Bool {
        var scratch: [Violation] = []
        check(value, against: schema, path: "$", into: &scratch, limit: 1)
        return scratch.isEmpty
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("object", .object), ("array", .array), ("string", .string): true
        case ("number", .int), ("number", .double), ("integer", .int): true
        case ("integer", .double(let d)): d.rounded() == d
        default: false
        }
    }

    static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// JSON equality: 1 and 1.0 are equal.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = a.doubleValue, let y = b.doubleValue { return x == y }
        switch (a, b) {
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { key, value in y[key].map { equal(value, $0) } ?? false }
        default: return a == b
        }
    }

    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)
    }
}
