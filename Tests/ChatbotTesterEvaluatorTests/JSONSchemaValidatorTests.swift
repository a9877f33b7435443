import ChatbotTesterCore
import ChatbotTesterEvaluator
import Testing

@Suite struct JSONSchemaValidatorTests {
    static let schema: JSONValue = [
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["id", "tags", "status"],
        "additionalProperties": false,
        "properties": [
            "id": ["type": "integer", "minimum": 1, "maximum": 1000],
            "name": ["type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[A-Z]"],
            "tags": ["type": "array", "items": ["type": "string"], "minItems": 1, "maxItems": 2],
            "status": ["enum": ["open", "closed"]],
            "kind": ["const": "ticket"],
            "price": ["type": ["number", "null"], "exclusiveMinimum": 0],
        ],
    ]

    @Test func validDocumentPasses() throws {
        let value = try JSONValue(parsing: #"{"id": 5, "name": "Ada", "tags": ["x"], "status": "open", "kind": "ticket", "price": null}"#)
        #expect(JSONSchemaValidator(schema: Self.schema).validate(value).isEmpty)
    }

    @Test(arguments: [
        (#"{"id": 5, "tags": ["x"]}"#, "$: missing required property 'status'"),
        (#"{"id": 5.5, "tags": ["x"], "status": "open"}"#, "$.id: expected integer, got number"),
        (#"{"id": 0, "tags": ["x"], "status": "open"}"#, "$.id: must be ≥ 1"),
        (#"{"id": 5000, "tags": ["x"], "status": "open"}"#, "$.id: must be ≤ 1000"),
        (#"{"id": 5, "tags": [], "status": "open"}"#, "$.tags: needs at least 1 items, has 0"),
        (#"{"id": 5, "tags": ["a", "b", "c"], "status": "open"}"#, "$.tags: allows at most 2 items, has 3"),
        (#"{"id": 5, "tags": [1], "status": "open"}"#, "$.tags[0]: expected string, got integer"),
        (#"{"id": 5, "tags": ["x"], "status": "pending"}"#, #"$.status: must be one of "open", "closed""#),
        (#"{"id": 5, "tags": ["x"], "status": "open", "kind": "bug"}"#, #"$.kind: must equal "ticket""#),
        (#"{"id": 5, "tags": ["x"], "status": "open", "name": "A"}"#, "$.name: must be at least 2 characters"),
        (#"{"id": 5, "tags": ["x"], "status": "open", "name": "Adalovelace"}"#, "$.name: must be at most 5 characters"),
        (#"{"id": 5, "tags": ["x"], "status": "open", "name": "ada"}"#, "$.name: does not match pattern /^[A-Z]/"),
        (#"{"id": 5, "tags": ["x"], "status": "open", "extra": 1}"#, "$.extra: additional property is not allowed"),
        (#"{"id": 5, "tags": ["x"], "status": "open", "price": 0}"#, "$.price: must be > 0"),
        (#"[1]"#, "$: expected object, got array"),
    ])
    func violationsNameThePath(json: String, message: String) throws {
        let violations = JSONSchemaValidator(schema: Self.schema).validate(try JSONValue(parsing: json))
        #expect(violations.map(\.description).contains(message), "\(violations)")
    }

    @Test func combinatorsAndBooleanSchemas() throws {
        let anyOf: JSONValue = ["anyOf": [["type": "string"], ["type": "integer"]]]
        #expect(JSONSchemaValidator(schema: anyOf).validate(.int(3)).isEmpty)
        #expect(!JSONSchemaValidator(schema: anyOf).validate(.bool(true)).isEmpty)
        let oneOf: JSONValue = ["oneOf": [["type": "number"], ["type": "integer"]]]
        #expect(!JSONSchemaValidator(schema: oneOf).validate(.int(3)).isEmpty)  // matches both
        #expect(JSONSchemaValidator(schema: oneOf).validate(.double(3.5)).isEmpty)
        #expect(!JSONSchemaValidator(schema: ["not": ["type": "null"]]).validate(.null).isEmpty)
        #expect(!JSONSchemaValidator(schema: false).validate(.int(1)).isEmpty)
        #expect(JSONSchemaValidator(schema: true).validate(.int(1)).isEmpty)
        let nested: JSONValue = ["type": "object", "additionalProperties": ["type": "integer"]]
        #expect(JSONSchemaValidator(schema: nested).validate(try JSONValue(parsing: #"{"a": 1, "b": "x"}"#)).map(\.path) == ["$.b"])
    }
}
