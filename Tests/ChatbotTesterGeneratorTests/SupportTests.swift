import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterGenerator

@Suite struct SupportTests {
    @Test(arguments: ["plain", "quote \" and \\ backslash", "new\nline\ttab", "café ☕️ 日本", "a/b", "{\"json\": 1}"])
    func canonicalContentMatchesSortedKeyJSON(text: String) {
        let sample = TestSample(id: "x", input: text, system: "sys/\(text)")
        let reference: JSONValue = ["input": .string(text), "system": .string("sys/\(text)")]
        #expect(SampleIdentity.canonicalContent(of: sample) == reference.canonicalText)
        let scenario = TestSample(id: "y", scenario: Scenario(persona: text, goal: "g", maxTurns: 3, stopCondition: "s"))
        let encoded = (try? JSONValue(encoding: scenario.scenario!))!
        #expect(SampleIdentity.canonicalContent(of: scenario) == JSONValue.object(["scenario": encoded]).canonicalText)
    }

    @Test func normalisationFoldsCaseSpacingAndPunctuation() {
        #expect(SampleIdentity.normalize("  How do I   RETURN it?! ") == "how do i return it")
        #expect(SampleIdentity.normalize("don't") == "don t")
        #expect(SampleIdentity.normalize("Café, 42") == "café 42")
    }

    @Test func seededGeneratorIsStable() {
        var random = SeededGenerator(seed: 1)
        let values = (0..<3).map { _ in random.next() }
        var again = SeededGenerator(seed: 1)
        #expect(values == (0..<3).map { _ in again.next() })
        var bounded = SeededGenerator(seed: 2)
        for _ in 0..<1000 { #expect((0..<7).contains(bounded.int(below: 7))) }
        var picker = SeededGenerator(seed: 3)
        let indices = picker.distinctIndices(10, below: 20)
        #expect(indices.count == 10 && Set(indices).count == 10 && indices.allSatisfy { $0 < 20 } && indices == indices.sorted())
        var left = SeededGenerator(seed: 1, labels: ["a", "bc"])
        var right = SeededGenerator(seed: 1, labels: ["ab", "c"])
        #expect(left.next() != right.next())
    }

    @Test func chunkingPacksParagraphsWithOverlap() {
        let paragraphs = (1...8).map { "P\($0) " + String(repeating: "word ", count: 15).trimmingCharacters(in: .whitespaces) }
        let text = paragraphs.joined(separator: "\n\n")
        let chunker = DocumentChunker(size: 200, overlap: 40)
        let chunks = chunker.chunks(of: text)
        #expect(chunks.count >= 4)
        for paragraph in paragraphs { #expect(chunks.contains { $0.contains(paragraph) }) }
        for chunk in chunks { #expect(chunk.count <= 200 + 40 + 2) }
        for (previous, next) in zip(chunks, chunks.dropFirst()) {
            let overlap = DocumentChunker.tail(of: previous, length: 40)
            #expect(!overlap.isEmpty && next.hasPrefix(overlap))
        }
        #expect(DocumentChunker(size: 200, overlap: 0).chunks(of: text).joined(separator: "\n\n") == text)
    }

    @Test func longParagraphsAreSplitAtWords() {
        let text = (1...300).map { "w\($0)" }.joined(separator: " ")
        let chunks = DocumentChunker(size: 120, overlap: 0).chunks(of: text)
        #expect(chunks.allSatisfy { $0.count <= 120 })
        #expect(chunks.joined(separator: " ").split(separator: " ").count == 300)
        #expect(DocumentChunker().chunks(of: "\n\n  \n").isEmpty)
    }

    @Test func documentLoadingNamesTheField() throws {
        #expect(throws: ChatbotTesterError.self) {
            _ = try DocumentChunker().load("nope.md", baseDirectory: URL(fileURLWithPath: "/nonexistent"), field: "generate.synthesize.documents[0]")
        }
        let parsed = try spec(#"{"synthesize": {"backend": "gen", "documents": ["missing.md"]}}"#)
        do {
            try parsed.validate(backends: RegistryConfig(["gen": ComponentSpec(type: "openai")]), baseDirectory: URL(fileURLWithPath: "/nonexistent"))
            Issue.record("expected an error")
        } catch let error as ChatbotTesterError {
            #expect(error.location?.field == "generate.synthesize.documents[0]")
        }
    }

    @Test func briefExampleDecodesAndRoundTrips() throws {
        let parsed = try spec("""
            {"seed": 42,
             "templates": [{"template": "How do I {action} my {item}?", "variables": {"action": ["return", "exchange"], "item": ["phone", "laptop"]},
                            "expected": "...", "mode": "cartesian"}],
             "synthesize": {"backend": "gen", "topics": ["refunds", "shipping"], "perTopic": 5, "documents": ["docs/faq.md"],
                            "questionTypes": ["factual", "how-to", "multi-hop", "out-of-scope", "ambiguous"]},
             "personas": {"backend": "gen", "personas": ["p"], "intents": ["i"], "maxTurns": 6},
             "perturb": {"of": "all", "kinds": ["typos", "casing", "whitespace", "punctuation", "filler", "paraphrase"], "perSample": 1, "backend": "gen"},
             "adversarial": {"categories": ["prompt-injection", "jailbreak", "pii-extraction", "system-prompt-extraction", "off-topic", "toxic-request"], "perCategory": 5},
             "dedup": true}
            """)
        #expect(parsed.seed == 42)
        #expect(parsed.synthesize?.questionTypes.count == 5)
        #expect(parsed.backendReferences.map(\.field) == ["synthesize.backend", "personas.backend", "perturb.backend"])
        let encoded = try JSONValue(encoding: parsed)
        #expect(try GenerateSpec.decode(encoded) == parsed)
    }
}

@Suite struct SampleCheckTests {
    static let cases: [TestSample] = {
        var cases = [
            TestSample(id: "ok", input: "hi"),
            TestSample(id: "", input: "hi"),
            TestSample(id: "none"),
            TestSample(id: "two", input: "hi", turns: ["a"]),
            TestSample(id: "empty", turns: []),
            TestSample(id: "sc", scenario: Scenario(persona: "p", goal: "g", maxTurns: 0)),
            TestSample(id: "meta", input: "x", metadata: ["score": .double(.nan)]),
            TestSample(id: "scenario", scenario: Scenario(persona: "p", goal: "g")),
        ]
        var future = TestSample(id: "future", input: "x")
        future.schemaVersion = TestSample.currentSchemaVersion + 1
        cases.append(future)
        return cases
    }()

    /// The in-memory check agrees with the decoder `chatbot-tester validate` uses.
    @Test(arguments: cases)
    func agreesWithTheDecoder(sample: TestSample) {
        let roundTrip: Bool
        if let line = try? JSONL.encodeLine(sample), case .success = JSONL.decode(TestSample.self, from: line, source: nil, line: 1) {
            roundTrip = true
        } else {
            roundTrip = false
        }
        #expect((SampleCheck.problem(with: sample) == nil) == roundTrip, "\(sample.id): \(SampleCheck.problem(with: sample) ?? "valid")")
    }
}
