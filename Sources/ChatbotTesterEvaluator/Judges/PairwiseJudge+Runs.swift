import ChatbotTesterCore
import Foundation

extension PairwiseJudge {
    /// The outcome of comparing two whole runs sample by sample.
    public struct RunSummary: Sendable, Hashable, Codable {
        /// One verdict per sample present in both runs, in candidate order.
        public var verdicts: [Verdict]
        /// Samples where the candidate (B) won in both orders.
        public var candidateWins: Int
        /// Samples where the baseline (A) won in both orders.
        public var baselineWins: Int
        /// Ties, including position-inconsistent verdicts.
        public var ties: Int
        /// Verdicts whose two orders disagreed (the judge's position bias showed).
        public var positionInconsistent: Int
        public var unmeasured: Int
        /// Mean candidate preference over measured samples (0.5 = no difference).
        public var candidatePreference: Double?
        public var usage: Usage
        public var costUSD: Double
    }

    /// Compares every sample present in both `results.jsonl` files. The baseline's records are held
    /// in memory (keyed by sample id); the candidate streams, `concurrency` samples at a time.
    public func compareRuns(baseline: URL, candidate: URL, concurrency: Int = 4) async throws -> RunSummary {
        var base: [String: RunRecord] = [:]
        for try await entry in JSONL.read(RunRecord.self, from: baseline) {
            if case .success(let run) = entry.result { base[run.sampleId] = run }
        }
        var pairs: [(RunRecord, RunRecord)] = []
        for try await entry in JSONL.read(RunRecord.self, from: candidate) {
            if case .success(let run) = entry.result, let before = base.removeValue(forKey: run.sampleId) { pairs.append((before, run)) }
        }
        return try await compareRuns(pairs, concurrency: concurrency)
    }

    /// Compares (baseline, candidate) pairs of the same samples.
    public func compareRuns(_ pairs: [(RunRecord, RunRecord)], concurrency: Int = 4) async throws -> RunSummary {
        var verdicts = [Verdict?](repeating: nil, count: pairs.count)
        try await withThrowingTaskGroup(of: (Int, Verdict).self) { group in
            var next = 0
            for _ in 0..<min(max(1, concurrency), pairs.count) {
                let index = next
                group.addTask { (index, try await self.compare(pairs[index].0, pairs[index].1)) }
                next += 1
            }
            while let (index, verdict) = try await group.next() {
                verdicts[index] = verdict
                if next < pairs.count {
                    let index = next
                    group.addTask { (index, try await self.compare(pairs[index].0, pairs[index].1)) }
                    next += 1
                }
            }
        }
        let all = verdicts.compactMap { $0 }
        let measured = all.compactMap(\.scoreB)
        return RunSummary(
            verdicts: all, candidateWins: all.filter { $0.winner == .b }.count, baselineWins: all.filter { $0.winner == .a }.count,
            ties: all.filter { $0.winner == .tie }.count, positionInconsistent: all.filter { $0.winner != nil && !$0.positionConsistent }.count,
            unmeasured: all.filter { $0.scoreB == nil }.count,
            candidatePreference: measured.isEmpty ? nil : measured.reduce(0, +) / Double(measured.count),
            usage: all.reduce(Usage.zero) { $0 + $1.usage }, costUSD: all.compactMap(\.costUSD).reduce(0, +))
    }
}
