import ChatbotTesterCore
import Foundation

/// What an earlier, interrupted generation already wrote: sample ids to skip, model-backed units
/// not to call again, and dedup keys so new cases are not near-copies of written ones.
public struct ResumeState: Sendable, Hashable {
    public var ids: Set<String>
    /// `metadata.generationUnit` values (`topic:refunds`, `document:faq.md#2`, `paraphrase:gen-…`).
    public var units: Set<String>
    /// Digests of the dedup keys (`SampleIdentity.dedupDigest`).
    public var dedupKeys: Set<UInt64>

    public init(ids: Set<String> = [], units: Set<String> = [], dedupKeys: Set<UInt64> = []) {
        self.ids = ids
        self.units = units
        self.dedupKeys = dedupKeys
    }

    /// Adds one written sample.
    public mutating func insert(_ sample: TestSample) {
        ids.insert(sample.id)
        if let unit = sample.metadata["generationUnit"]?.stringValue { units.insert(unit) }
        dedupKeys.insert(SampleIdentity.dedupDigest(of: sample))
    }

    /// Reads a dataset file (streaming). A missing file is an empty state.
    /// - Throws: `invalidInput` naming file and line for a line that is not a valid sample.
    public static func load(from url: URL) async throws -> ResumeState {
        var state = ResumeState()
        guard FileManager.default.fileExists(atPath: url.path) else { return state }
        for try await entry in JSONL.read(TestSample.self, from: url) {
            state.insert(try entry.result.get())
        }
        return state
    }
}
