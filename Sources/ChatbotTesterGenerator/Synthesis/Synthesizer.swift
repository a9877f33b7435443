import ChatbotTesterCore

/// Writes test cases with a model, one `SynthesisUnit` (topic or document chunk) per request.
public struct Synthesizer: Sendable {
    public var spec: SynthesizeSpec
    public var backend: any ChatBackend
    public var seed: UInt64

    public init(spec: SynthesizeSpec, backend: any ChatBackend, seed: UInt64 = 0) {
        self.spec = spec
        self.backend = backend
        self.seed = seed
    }

    /// The samples of one unit, with what was dropped and repaired on the way. Sample ids are left
    /// empty for the generator to assign.
    func synthesize(_ unit: SynthesisUnit) async throws -> SourceBatch {
        let call = StructuredCall(
            backend: backend, format: spec.format, schemaName: "test_cases",
            schema: SynthesizedItem.replySchema(types: spec.questionTypes, count: unit.plannedTypes.count), arrayKey: "items",
            temperature: spec.temperature, maxTokens: spec.maxTokens, seed: Int(truncatingIfNeeded: seed &+ UInt64(unit.index)),
            retries: spec.retries, tags: ["purpose": "generate.synthesize", "unit": unit.key])
        let outcome = try await call.run(messages: messages(for: unit), want: unit.plannedTypes.count, validate: SynthesizedItem.validate)
        var batch = SourceBatch(origin: unit.origin, outcome: outcome)
        batch.samples = outcome.items.enumerated().map { position, item in
            sample(from: item, plannedType: unit.plannedTypes[position], unit: unit)
        }
        return batch
    }

    func sample(from item: SynthesizedItem, plannedType: QuestionType, unit: SynthesisUnit) -> TestSample {
        let type = item.type ?? plannedType
        var metadata: [String: JSONValue] = [
            "source": "synthesize", "questionType": .string(type.rawValue), "generationUnit": .string(unit.key),
        ]
        var tags = ["synthesized", "type:\(type.rawValue)"]
        var context: [String]?
        switch unit.subject {
        case .topic(let topic):
            metadata["topic"] = .string(topic)
            tags.append("topic:\(Slug.make(topic))")
        case .chunk(let chunk):
            metadata["sourceDocument"] = .string(chunk.source)
            metadata["chunkIndex"] = .int(chunk.index)
            metadata["chunk"] = .string(chunk.text)
            tags.append("document:\(chunk.source)")
            context = [chunk.text]
        }
        return TestSample(
            id: "", input: item.input, system: spec.system, expected: item.expected,
            criteria: item.criteria ?? type.defaultCriteria, context: context, tags: tags, metadata: metadata)
    }

    /// The prompt of one unit.
    func messages(for unit: SynthesisUnit) -> [Message] {
        let system = """
            You write test cases for evaluating a chatbot. A test case is a user message (input), the reference \
            answer a good assistant gives (expected), what a good answer must do in one sentence (criteria), and \
            the question type. Reply with JSON only, in exactly this shape: \
            {"items": [{"input": "...", "expected": "...", "criteria": "...", "type": "factual"}]}
            """
        var counts: [(QuestionType, Int)] = []
        for type in unit.plannedTypes {
            if let index = counts.firstIndex(where: { $0.0 == type }) { counts[index].1 += 1 } else { counts.append((type, 1)) }
        }
        let plan = counts.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ")
        let definitions = counts.map { "- \($0.0.rawValue): \($0.0.instruction)" }.joined(separator: "\n")
        var user: String
        switch unit.subject {
        case .topic(let topic):
            user = "Topic: \(topic)\n\nWrite \(unit.plannedTypes.count) test cases about this topic: \(plan)."
        case .chunk(let chunk):
            user = """
                Source (\(chunk.source), part \(chunk.index + 1)):
                \"\"\"
                \(chunk.text)
                \"\"\"

                Write \(unit.plannedTypes.count) test cases grounded in this source: \(plan). Expected answers must \
                follow from the source alone.
                """
        }
        user += "\n\nQuestion types:\n\(definitions)\n\nWrite inputs the way real users type them; make every input different."
        if let instructions = spec.instructions { user += "\n\n\(instructions)" }
        return [.system(system), .user(user)]
    }
}
