import ChatbotTesterCore
import Foundation
import Testing

/// Reading `results.jsonl` lines with the byte parser vs Foundation. Prints figures; asserts only
/// counts. Run with `CT_BENCH=1 swift test --filter JSONByteParserBenchmarks` (`CT_BENCH_LINES`
/// sets the line count, default 20,000).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CT_BENCH"] == "1"))
struct JSONByteParserBenchmarks {
    func time(_ label: String, _ lines: [Data], _ body: (Data) -> Bool) -> Int {
        var done = 0
        let start = ContinuousClock.now
        for line in lines where body(line) { done += 1 }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("[bench] \(label): \(lines.count) in \(String(format: "%.3f", seconds)) s = \(Int(Double(lines.count) / max(seconds, 1e-9)))/s")
        return done
    }

    @Test func runRecordLines() throws {
        let lines = try StrictDecodingBenchmarks.runLines(StrictDecodingBenchmarks.count)
        let count = lines.count
        let decoder = JSONCoding.decoder()
        _ = time("warm-up", Array(lines.prefix(500))) { (try? JSONByteParser.parse($0)) != nil }
        #expect(time("JSONDecoder → JSONValue", lines) { (try? decoder.decode(JSONValue.self, from: $0)) != nil } == count)
        #expect(time("JSONDecoder → RunRecord", lines) { (try? decoder.decode(RunRecord.self, from: $0)) != nil } == count)
        #expect(time("JSONByteParser.parse → JSONValue", lines) { (try? JSONByteParser.parse($0)) != nil } == count)
        #expect(time("JSONByteParser.members([sampleId])", lines) { (try? JSONByteParser.members(["sampleId"], of: $0))?["sampleId"] != nil } == count)
        let values = lines.map { try! JSONByteParser.parse($0) }
        let start = ContinuousClock.now
        var bytes = 0
        for value in values { bytes += JSONByteWriter.bytes(value).count }
        print("[bench] JSONByteWriter.bytes: \(count) values, \(bytes) bytes in \(ContinuousClock.now - start)")
        #expect(bytes > 0)
    }
}
