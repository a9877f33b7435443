import ChatbotTesterCore

/// Samples produced by one unit of work (a synthesis unit, a paraphrase call), with its drops.
struct SourceBatch: Sendable {
    var origin: String
    var samples: [TestSample] = []
    var drops: [(DroppedItem, Int)] = []
    var repairs: [String] = []
    var modelCalls = 0

    init(origin: String, samples: [TestSample] = []) {
        self.origin = origin
        self.samples = samples
    }

    /// A batch carrying a structured call's model calls, repairs and drops (samples to be added).
    init<Item>(origin: String, outcome: StructuredCall.Outcome<Item>, keepDrops: Bool = true) {
        self.origin = origin
        modelCalls = outcome.calls
        repairs = outcome.repairs
        if keepDrops {
            drops = outcome.drops.map { (DroppedItem(reason: $0.reason, detail: $0.detail, origin: origin), $0.count) }
        }
    }
}
