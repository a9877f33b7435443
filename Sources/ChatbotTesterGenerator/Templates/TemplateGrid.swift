import ChatbotTesterCore
import Foundation

/// The expansion of one `TemplateSpec`: variable combinations turned into samples, lazily, so a
/// grid of millions of combinations is never held in memory.
public struct TemplateGrid: Sendable {
    public let spec: TemplateSpec
    /// The grid's position in `generate.templates` (kept in metadata).
    public let position: Int
    let names: [String]
    let lists: [[String]]
    /// The number of combinations of the full grid (before sampling).
    public let combinations: Int
    private let selected: [Int]?
    private let parsed: [String: TextTemplate]

    /// - Parameters:
    ///   - seed: drives `sample` mode; the same seed draws the same combinations.
    /// - Throws: `invalidConfig` when the grid is too large to count.
    public init(spec: TemplateSpec, position: Int = 0, seed: UInt64 = 0) throws {
        self.spec = spec
        self.position = position
        names = spec.orderedVariables
        lists = names.map { spec.variables[$0] ?? [] }
        switch spec.mode {
        case .zip:
            combinations = lists.first?.count ?? 1
        case .cartesian, .sample:
            var total = 1
            for list in lists {
                let (product, overflow) = total.multipliedReportingOverflow(by: list.count)
                if overflow {
                    throw ChatbotTesterError(
                        .invalidConfig, "the grid has more combinations than can be counted; use mode: sample",
                        location: SourceLocation(field: "generate.templates[\(position)].variables"))
                }
                total = product
            }
            combinations = total
        }
        var parsed: [String: TextTemplate] = [:]
        for (_, text) in spec.templatedFields { parsed[text] = try? TextTemplate(text) }
        self.parsed = parsed
        if spec.mode == .sample {
            var random = SeededGenerator(seed: seed, labels: ["template", String(position)])
            selected = random.distinctIndices(spec.sample ?? 0, below: combinations)
        } else {
            selected = nil
        }
    }

    /// How many samples the grid yields.
    public var count: Int { selected?.count ?? combinations }

    /// The variable values of the `offset`-th yielded sample.
    public func values(at offset: Int) -> [String: String] {
        var index = selected?[offset] ?? offset
        var values: [String: String] = [:]
        if spec.mode == .zip {
            for (name, list) in zip(names, lists) { values[name] = list[index] }
            return values
        }
        // Mixed radix, last variable fastest: the natural nested-loop order.
        for position in stride(from: lists.count - 1, through: 0, by: -1) {
            let list = lists[position]
            values[names[position]] = list[index % list.count]
            index /= list.count
        }
        return values
    }

    /// The `offset`-th sample. Its id is the rendered `id` template, or empty when the generator
    /// should assign a content id.
    public func sample(at offset: Int) -> TestSample {
        let values = values(at: offset)
        func render(_ text: String?) -> String? {
            guard let text else { return nil }
            return parsed[text]?.render(values) ?? text
        }
        var metadata = spec.metadata
        metadata["source"] = "template"
        metadata["template"] = .int(position)
        metadata["variables"] = .object(values.mapValues(JSONValue.string))
        return TestSample(
            id: render(spec.id) ?? "", input: render(spec.template), system: render(spec.system),
            turns: spec.turns?.map { render($0) ?? $0 }, expected: render(spec.expected), criteria: render(spec.criteria),
            tags: spec.tags.map { render($0) ?? $0 }, metadata: metadata)
    }

    /// Every sample of the grid, in order (convenient for small grids and tests).
    public var samples: [TestSample] { (0..<count).map(sample(at:)) }
}
