import ChatbotTesterCore
import Testing

@testable import ChatbotTesterGenerator

/// How repaired replies become items; the JSON repair itself is tested in ChatbotTesterCoreTests.
@Suite struct SynthesizedItemShapeTests {
    @Test func itemShapes() {
        let (items, repair) = StructuredCall.elements(of: ["input": "x"], arrayKey: "items")
        #expect(items == [["input": "x"]])
        #expect(repair == "single-object")
        #expect(StructuredCall.elements(of: ["cases": [1, 2]], arrayKey: "items").1 == "wrapped-array")
        #expect(StructuredCall.elements(of: ["items": [1]], arrayKey: "items").1 == nil)
        #expect(StructuredCall.elements(of: [1, 2], arrayKey: "items").1 == "bare-array")
    }

    @Test func itemValidation() {
        #expect(throws: ItemProblem.self) { try SynthesizedItem.validate(["expected": "x"]).get() }
        #expect(throws: ItemProblem.self) { try SynthesizedItem.validate(["input": 3]).get() }
        #expect(throws: ItemProblem.self) { try SynthesizedItem.validate(["input": "x", "type": "poem"]).get() }
        #expect(throws: ItemProblem.self) { try SynthesizedItem.validate("just text").get() }
        let item = try? SynthesizedItem.validate(["question": " Why? ", "answer": "Because.", "type": "Multi Hop"]).get()
        #expect(item == SynthesizedItem(input: "Why?", expected: "Because.", criteria: nil, type: .multiHop))
    }
}
