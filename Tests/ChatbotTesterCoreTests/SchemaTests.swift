import ChatbotTesterCore
import Foundation
import Testing

@Suite struct SchemaTests {
    @Test func smallestCaseIsValid() throws {
        let sample = try JSONCoding.decoder().decode(TestSample.self, from: Data(#"{"id":"q1","input":"Hello?"}"#.utf8))
        #expect(sample.id == "q1")
        #expect(sample.schemaVersion == TestSample.currentSchemaVersion)
        #expect(sample.kind == .single)
        #expect(sample.tags.isEmpty)
    }

    @Test(arguments: [
        (#"{"id":"q1","input":"Hi","colour":"red"}"#, "colour"),
        (#"{"id":"q1"}"#, "input"),
        (#"{"id":"q1","input":"Hi","turns":["a"]}"#, "turns"),
        (#"{"id":"q1","scenario":{"persona":"p","goal":"g","mood":"x"}}"#, "scenario.mood"),
        (#"{"id":"q1","turns":["a", 3]}"#, "turns[1]"),
        (#"{"input":"Hi"}"#, "id"),
    ])
    func invalidCasesNameTheField(json: String, field: String) throws {
        let result = JSONL.decode(TestSample.self, from: Data(json.utf8), source: "cases.jsonl", line: 7)
        guard case .failure(let error) = result else {
            Issue.record("expected a failure for \(json)")
            return
        }
        #expect(error.location?.source == "cases.jsonl")
        #expect(error.location?.line == 7)
        #expect(error.location?.field == field)
        #expect(error.description.hasPrefix("cases.jsonl:7: field '\(field)'"))
    }

    @Test func malformedLinesDoNotStopTheStream() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("cases.jsonl")
        let text = """
            {"id":"a","input":"one"}
            {"id":"b","input":

            {"id":"c","input":"three","tags":["x"]}
            {"id":"d","input":"four","extra":1}
            {"id":"e","turns":["hi","bye"]}
            """
        try text.write(to: file, atomically: true, encoding: .utf8)
        var good: [String] = []
        var bad: [(Int, String?)] = []
        for try await entry in JSONL.read(TestSample.self, from: file) {
            switch entry.result {
            case .success(let sample): good.append(sample.id)
            case .failure(let error): bad.append((entry.line, error.location?.field))
            }
        }
        #expect(good == ["a", "c", "e"])
        #expect(bad.map(\.0) == [2, 5])
        #expect(bad[1].1 == "extra")
    }
}
