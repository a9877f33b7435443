import ChatbotTesterCore

/// One request for a list of structured items: asks with a JSON schema (or JSON mode), repairs the
/// reply, validates every item, and retries with the validation errors when items are missing.
struct StructuredCall: Sendable {
    var backend: any ChatBackend
    var format: SynthesizeSpec.OutputFormat
    var schemaName: String
    /// The schema of the whole reply (an object whose `arrayKey` holds the items).
    var schema: JSONValue
    /// The key of the item array in the reply object; `nil` when the reply is one item object.
    var arrayKey: String?
    var temperature: Double?
    var maxTokens: Int
    var seed: Int?
    var retries: Int
    /// Labels for logs and caches.
    var tags: [String: String]

    /// What a call produced.
    struct Outcome<Item: Sendable>: Sendable {
        var items: [Item] = []
        var drops: [(reason: DropReason, detail: String, count: Int)] = []
        var repairs: [String] = []
        var calls = 0
    }

    /// Asks for `want` items.
    /// - Parameter validate: turns one reply element into an item, or says what is wrong with it.
    func run<Item: Sendable>(
        messages: [Message], want: Int, validate: (JSONValue) -> Result<Item, ItemProblem>
    ) async throws -> Outcome<Item> {
        var outcome = Outcome<Item>()
        var conversation = messages
        for attempt in 0...retries {
            if attempt > 0 { outcome.repairs.append("retry") }
            let response: ChatResponse
            do {
                outcome.calls += 1
                response = try await backend.send(request(conversation))
            } catch {
                let wrapped = ChatbotTesterError.wrap(error)
                if [.invalidConfig, .missingSecret, .unknownType, .cancelled].contains(wrapped.code) { throw wrapped }
                outcome.drops.append((.backendError, wrapped.description, max(want - outcome.items.count, 1)))
                return outcome
            }
            var problems: [String] = []
            switch JSONRepair.parse(response.content) {
            case .failure(let failure):
                outcome.drops.append((.invalidJSON, failure.message, 1))
                problems.append("The reply was not valid JSON (\(failure.message)).")
            case .success(let parsed):
                outcome.repairs.append(contentsOf: parsed.repairs.map(\.rawValue))
                if parsed.repairs.contains(.truncated), response.finishReason == "length" {
                    problems.append("The reply was cut off at the token limit; give fewer, shorter items.")
                }
                let (elements, shapeRepair) = Self.elements(of: parsed.value, arrayKey: arrayKey)
                if let shapeRepair { outcome.repairs.append(shapeRepair) }
                guard let elements else {
                    outcome.drops.append((.invalidItem, "the reply is not a JSON object", 1))
                    problems.append("The reply must be a JSON object.")
                    break
                }
                for (index, element) in elements.enumerated() {
                    switch validate(element) {
                    case .success(let item):
                        if outcome.items.count < want {
                            outcome.items.append(item)
                        } else {
                            outcome.drops.append((.surplus, "item \(index) is beyond the \(want) asked for", 1))
                        }
                    case .failure(let problem):
                        outcome.drops.append((.invalidItem, "item \(index): \(problem.message)", 1))
                        problems.append("Item \(index): \(problem.message).")
                    }
                }
            }
            let missing = want - outcome.items.count
            if missing <= 0 { return outcome }
            if attempt == retries {
                outcome.drops.append((.missing, "\(missing) of \(want) items missing after \(attempt + 1) attempt(s)", missing))
                return outcome
            }
            conversation.append(.assistant(response.content))
            conversation.append(.user(Self.retryPrompt(problems: problems, missing: missing, arrayKey: arrayKey)))
        }
        return outcome
    }

    func request(_ messages: [Message]) -> ChatRequest {
        let responseFormat: ResponseFormat =
            switch format {
            case .jsonSchema: .jsonSchema(name: schemaName, schema: schema)
            case .json: .json
            case .text: .text
            }
        return ChatRequest(
            messages: messages, temperature: temperature, maxTokens: maxTokens, seed: seed, responseFormat: responseFormat,
            tags: tags)
    }

    static func retryPrompt(problems: [String], missing: Int, arrayKey: String?) -> String {
        var text = problems.isEmpty ? "" : "Problems with your reply:\n" + problems.prefix(10).joined(separator: "\n") + "\n\n"
        if let arrayKey {
            text += "Reply again with only a JSON object {\"\(arrayKey)\": [...]} holding \(missing) new, valid item(s), "
            text += "different from those already accepted. No prose, no code fences."
        } else {
            text += "Reply again with only the JSON object. No prose, no code fences."
        }
        return text
    }

    /// The item elements of a reply, accepting the shapes small models produce: the asked-for
    /// object, a bare array, a single item object, or the array under another key.
    static func elements(of value: JSONValue, arrayKey: String?) -> ([JSONValue]?, String?) {
        guard let arrayKey else {
            if let first = value.arrayValue?.first { return ([first], "bare-array") }
            return value.objectValue == nil ? (nil, nil) : ([value], nil)
        }
        if let array = value.arrayValue { return (array, "bare-array") }
        guard let object = value.objectValue else { return (nil, nil) }
        if let array = object[arrayKey]?.arrayValue { return (array, nil) }
        let arrays = object.keys.sorted().compactMap { object[$0]?.arrayValue }
        if object.count == 1, let only = arrays.first { return (only, "wrapped-array") }
        return ([value], "single-object")
    }
}

/// What is wrong with one item of a model's reply.
struct ItemProblem: Error, Sendable {
    var message: String
    init(_ message: String) { self.message = message }
}
