import ChatbotTesterCore
import ChatbotTesterEvaluator
import Foundation
import Testing

@Suite struct CalibrationTests {
    @Test func kappaOnAKnownTable() {
        // The classic two-rater example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no → pₒ 0.7, pₑ 0.5, κ 0.4.
        let table = ConfusionTable(bothPass: 20, judgePassHumanFail: 5, judgeFailHumanPass: 10, bothFail: 15)
        #expect(abs((table.agreement ?? 0) - 0.7) < 1e-12)
        #expect(abs((table.kappa ?? 0) - 0.4) < 1e-12)
        #expect(ConfusionTable(bothPass: 10, bothFail: 10).kappa == 1)
        #expect(ConfusionTable(judgePassHumanFail: 5, judgeFailHumanPass: 5).kappa.map { abs($0 + 1) < 1e-12 } == true)
        #expect(ConfusionTable().kappa == nil)
    }

    @Test func calibrateFromFiles() async throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Judge vs human over 50 samples reproducing the table above, plus extras that must be skipped.
        var labels: [HumanLabel] = []
        var evals: [EvalRecord] = []
        func add(_ count: Int, judge: Bool, human: Bool) {
            for _ in 0..<count {
                let id = "s\(labels.count)"
                labels.append(HumanLabel(id: id, label: .bool(human)))
                evals.append(EvalRecord(sampleId: id, metric: "helpful", type: "llm-judge", score: judge ? 0.9 : 0.2, passed: judge, threshold: 0.7))
            }
        }
        add(20, judge: true, human: true)
        add(5, judge: true, human: false)
        add(10, judge: false, human: true)
        add(15, judge: false, human: false)
        labels.append(HumanLabel(id: "no-eval", label: true))
        labels.append(HumanLabel(id: "judge-failed", label: 0.8))
        evals.append(EvalRecord(sampleId: "judge-failed", metric: "helpful", type: "llm-judge", status: .unmeasured, threshold: 0.7))
        evals.append(EvalRecord(sampleId: "s0", metric: "contains", type: "contains", score: 0, passed: false, threshold: 1))
        try Fixtures.writeJSONL(labels, to: dir.appendingPathComponent("labels.jsonl"))
        try Fixtures.writeJSONL(evals, to: dir.appendingPathComponent("evals.jsonl"))
        let report = try await JudgeCalibration.calibrate(labels: dir.appendingPathComponent("labels.jsonl"), evals: dir.appendingPathComponent("evals.jsonl"))
        #expect(report.metric == "helpful")
        #expect(report.compared == 50)
        #expect(report.unmeasured == 1)
        #expect(report.unmatchedLabels == ["no-eval"])
        #expect(report.confusion == ConfusionTable(bothPass: 20, judgePassHumanFail: 5, judgeFailHumanPass: 10, bothFail: 15))
        #expect(abs((report.kappa ?? 0) - 0.4) < 1e-12)
        #expect(report.markdown.contains("| **judge pass** | 20 | 5 |"))
    }

    @Test func numericLabelsAreNormalised() {
        let labels = [HumanLabel(id: "a", label: 5), HumanLabel(id: "b", label: 1), HumanLabel(id: "c", label: 4)]
        let evals = [
            EvalRecord(sampleId: "a", metric: "j", type: "llm-judge", score: 1, passed: true, threshold: 0.7),
            EvalRecord(sampleId: "b", metric: "j", type: "llm-judge", score: 0.25, passed: false, threshold: 0.7),
            EvalRecord(sampleId: "c", metric: "j", type: "llm-judge", score: 0.5, passed: false, threshold: 0.7),
        ]
        let report = JudgeCalibration.calibrate(labels: labels, evals: evals, metric: "j", labelScale: JudgeScale(min: 1, max: 5))
        #expect(report.confusion == ConfusionTable(bothPass: 1, judgePassHumanFail: 0, judgeFailHumanPass: 1, bothFail: 1))
        #expect(abs((report.meanAbsoluteError ?? 0) - (0 + 0.25 + 0.25) / 3) < 1e-12)
    }

    @Test func numericIdsMatchAsText() throws {
        let label = try JSONCoding.decoder().decode(HumanLabel.self, from: Data(#"{"id": 12, "label": false}"#.utf8))
        #expect(label.id == "12")
        #expect(throws: (any Error).self) { try JSONCoding.decoder().decode(HumanLabel.self, from: Data(#"{"id": "a", "label": true, "note": 1}"#.utf8)) }
    }

    @Test func badLabelLineNamesFileLineAndField() async throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let labels = dir.appendingPathComponent("labels.jsonl")
        try "{\"id\": \"a\", \"label\": true}\n{\"id\": \"b\", \"label\": \"yes\"}\n".write(to: labels, atomically: true, encoding: .utf8)
        try Fixtures.writeJSONL([EvalRecord(sampleId: "a", metric: "j", type: "llm-judge", score: 1)], to: dir.appendingPathComponent("evals.jsonl"))
        await #expect {
            _ = try await JudgeCalibration.calibrate(labels: labels, evals: dir.appendingPathComponent("evals.jsonl"), metric: "j")
        } throws: { error in
            let e = error as? ChatbotTesterError
            return e?.location?.line == 2 && e?.location?.field == "label" && e?.location?.source == labels.path
        }
    }
}
