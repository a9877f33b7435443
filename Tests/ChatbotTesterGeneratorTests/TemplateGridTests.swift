import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterGenerator

@Suite struct TemplateGridTests {
    static let grid = """
        {"seed": 42, "templates": [{
          "template": "How do I {action} my {item}?",
          "variables": {"action": ["return", "exchange", "repair"], "item": ["phone", "laptop"]},
          "expected": "You can {action} your {item} within 30 days.",
          "criteria": "Explains how to {action} a {item}.",
          "tags": ["{action}"]
        }]}
        """

    @Test func cartesianExpandsEveryCombination() async throws {
        let samples = try await collect(Generator(spec: try spec(Self.grid)))
        #expect(samples.count == 6)
        #expect(samples.map(\.input) == [
            "How do I return my phone?", "How do I return my laptop?", "How do I exchange my phone?",
            "How do I exchange my laptop?", "How do I repair my phone?", "How do I repair my laptop?",
        ])
        #expect(samples[3].expected == "You can exchange your laptop within 30 days.")
        #expect(samples[3].criteria == "Explains how to exchange a laptop.")
        #expect(samples[3].tags == ["exchange"])
        #expect(samples[3].metadata["variables"] == ["action": "exchange", "item": "laptop"])
        #expect(samples[3].metadata["source"] == "template")
        #expect(samples.allSatisfy { $0.id.hasPrefix("gen-") && $0.id.count == 16 })
        try expectValidDataset(samples)
    }

    @Test func idsAreContentHashesStableAcrossRuns() async throws {
        let first = try await collect(Generator(spec: try spec(Self.grid)))
        let second = try await collect(Generator(spec: try spec(Self.grid)))
        #expect(first == second)
        let expected = "gen-" + SHA256Hasher.hex(#"{"input":"How do I return my phone?"}"#).prefix(12)
        #expect(first[0].id == expected)
    }

    @Test func sampledGridIsDeterministicForASeed() throws {
        let template = TemplateSpec(
            template: "{a} {b} {c}", variables: ["a": (0..<10).map(String.init), "b": (0..<10).map(String.init), "c": (0..<10).map(String.init)],
            sample: 25)
        let one = try TemplateGrid(spec: template, seed: 7).samples.map(\.input)
        let again = try TemplateGrid(spec: template, seed: 7).samples.map(\.input)
        let other = try TemplateGrid(spec: template, seed: 8).samples.map(\.input)
        #expect(one.count == 25)
        #expect(Set(one).count == 25)
        #expect(one == again)
        #expect(one != other)
        #expect(try TemplateGrid(spec: template, seed: 7).combinations == 1000)
    }

    @Test func sampleLargerThanGridYieldsTheWholeGrid() throws {
        let template = TemplateSpec(template: "{a}", variables: ["a": ["x", "y"]], sample: 10)
        #expect(try TemplateGrid(spec: template).count == 2)
    }

    @Test func hugeGridsAreSampledWithoutMaterialising() throws {
        let values = (0..<1000).map(String.init)
        let template = TemplateSpec(template: "{a}-{b}-{c}-{d}", variables: ["a": values, "b": values, "c": values, "d": values], sample: 5)
        let grid = try TemplateGrid(spec: template, seed: 1)
        #expect(grid.combinations == 1_000_000_000_000)
        #expect(grid.samples.count == 5)
    }

    @Test func largeGridsStreamEveryCaseOnce() async throws {
        let values = (0..<40).map(String.init)
        let template = TemplateSpec(template: "Order {a}-{b}-{c}: where is it?", variables: ["a": values, "b": values, "c": Array(values.prefix(10))])
        let generator = Generator(spec: GenerateSpec(templates: [template]))
        var count = 0
        var ids = Set<String>()
        for try await sample in generator.samples() {
            count += 1
            ids.insert(sample.id)
        }
        #expect(count == 16_000)
        #expect(ids.count == 16_000)
        #expect(generator.report.generated == 16_000)
        #expect(generator.report.totalDropped == 0)
    }

    @Test func zipPairsValuesRowByRow() async throws {
        let samples = try await collect(Generator(spec: try spec("""
            {"templates": [{"template": "What is {q}?", "expected": "{a}", "mode": "zip",
              "variables": {"q": ["2+2", "3+3"], "a": [4, 6]}}]}
            """)))
        #expect(samples.map(\.input) == ["What is 2+2?", "What is 3+3?"])
        #expect(samples.map(\.expected) == ["4", "6"])
    }

    @Test func turnsTemplatesAndIdTemplates() async throws {
        let samples = try await collect(Generator(spec: try spec("""
            {"templates": [{"turns": ["Hi, I bought a {item}.", "It broke. Can I return the {item}?"], "id": "broken-{item}",
              "variables": {"item": ["phone", "kettle"]}, "system": "You help with {item} returns."}]}
            """)))
        #expect(samples.map(\.id) == ["broken-phone", "broken-kettle"])
        #expect(samples[1].turns == ["Hi, I bought a kettle.", "It broke. Can I return the kettle?"])
        #expect(samples[1].system == "You help with kettle returns.")
        #expect(samples[1].kind == .scripted)
        try expectValidDataset(samples)
    }

    @Test func bracesEscape() throws {
        let template = try TextTemplate("{{literal}} and {x}")
        #expect(template.variables == ["x"])
        #expect(template.render(["x": "1"]) == "{literal} and 1")
    }

    @Test(arguments: [
        (#"{"templates": [{"template": "How do I {acton} it?", "variables": {"action": ["a"]}}]}"#,
         "generate.templates[0].template", "unknown variable '{acton}' (variables: action)"),
        (#"{"templates": [{"template": "Hi", "expected": "{x}"}]}"#, "generate.templates[0].expected", "unknown variable '{x}'"),
        (#"{"templates": [{"template": "Hi {a}", "variables": {"a": ["1"], "b": ["2"]}}]}"#,
         "generate.templates[0].variables", "variable 'b' is not used"),
        (#"{"templates": [{"template": "Hi {a", "variables": {"a": ["1"]}}]}"#, "generate.templates[0].template", "unclosed"),
        (#"{"templates": [{"template": "Hi", "colour": "red"}]}"#, "generate.templates[0].colour", "unknown field 'colour'"),
        (#"{"templates": [{"template": "{a}", "variables": {"a": ["1"]}, "mode": "sample"}]}"#, "generate.templates[0].sample", "needs 'sample: N'"),
        (#"{"templates": [{"template": "{a}{b}", "mode": "zip", "variables": {"a": ["1"], "b": ["1", "2"]}}]}"#,
         "generate.templates[0].variables", "equal length"),
        (#"{"templat": []}"#, "generate.templat", "unknown field"),
        (#"{"dedup": true}"#, "generate.templates", "nothing to generate"),
        (#"{"synthesize": {"backend": "gen"}}"#, "generate.synthesize.topics", "give 'topics', 'documents'"),
        (#"{"synthesize": {"backend": "gen", "topics": ["a"], "questionTypes": ["factoid"]}}"#, "generate.synthesize.questionTypes[0]", "unknown value 'factoid' (allowed: factual, how-to, multi-hop, out-of-scope, ambiguous)"),
        (#"{"perturb": {"kinds": ["paraphrase"]}, "templates": [{"template": "x"}]}"#, "generate.perturb.backend", "needs a 'backend'"),
    ])
    func specErrorsNameTheField(json: String, field: String, message: String) throws {
        do {
            _ = try spec(json)
            Issue.record("expected an error for \(json)")
        } catch let error as ChatbotTesterError {
            #expect(error.code == .invalidConfig)
            #expect(error.location?.field == field, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }
}
