import ChatbotTesterCore
import Testing

@testable import ChatbotTesterGenerator

@Suite struct JSONRepairTests {
    @Test(arguments: [
        (#"[{"a": 1}]"#, #"[{"a":1}]"#, [String]()),
        ("```json\n[{\"a\": 1}]\n```", #"[{"a":1}]"#, ["code-fence"]),
        ("Here you go:\n{\"a\": [1, 2,]}\nHope it helps!", #"{"a":[1,2]}"#, ["surrounding-prose", "trailing-comma"]),
        (#"{"items": [{"a": 1}, {"a": 2}, {"a": "thr"#, #"{"items":[{"a":1},{"a":2}]}"#, ["truncated"]),
        (#"[{"a": 1}, {"a": 2}"#, #"[{"a":1},{"a":2}]"#, ["truncated"]),
        (#"["one", "two", "thr"#, #"["one","two"]"#, ["truncated"]),
        ("```\n{\"s\": \"a ] } , string\",}\n", #"{"s":"a ] } , string"}"#, ["code-fence", "trailing-comma"]),
        (#"{"s": "escaped \" quote [", "n": 1}"#, #"{"n":1,"s":"escaped \" quote ["}"#, []),
    ])
    func repairs(input: String, canonical: String, repairs: [String]) throws {
        let outcome = try JSONRepair.parse(input).get()
        #expect(outcome.value.canonicalText == canonical)
        #expect(outcome.repairs.map(\.rawValue) == repairs)
    }

    @Test(arguments: ["no json here", #"{"items": [{"a": 1"#, "", "[1, 2"])
    func unrecoverable(input: String) {
        if case .success(let outcome) = JSONRepair.parse(input) {
            // "[1, 2" is recoverable to [1] — numbers complete at the comma.
            #expect(input == "[1, 2" && outcome.value == [1])
        }
    }

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
