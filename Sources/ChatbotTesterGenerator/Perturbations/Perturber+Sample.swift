import ChatbotTesterCore

extension Perturber {
    /// A deterministic variant of a sample's user text (input, each scripted turn, or a scenario's
    /// opening message), linked to the original. `nil` for `paraphrase` or when the sample has no
    /// user text to change.
    ///
    /// - Parameter number: the variant's number (0-based) when `perSample` > 1.
    public func variant(of sample: TestSample, kind: PerturbationKind, number: Int = 0) -> TestSample? {
        guard kind.isDeterministic else { return nil }
        return Self.variant(of: sample, kind: kind, number: number) { text, turn in
            apply(kind, to: text, labels: [sample.id, String(number), String(turn)])
        }
    }

    /// Builds a variant by rewriting the user text with `rewrite(text, turnIndex)`.
    static func variant(
        of sample: TestSample, kind: PerturbationKind, number: Int, rewrite: (String, Int) -> String?
    ) -> TestSample? {
        var copy = sample
        if let input = sample.input {
            guard let changed = rewrite(input, 0) else { return nil }
            copy.input = changed
        } else if let turns = sample.turns {
            var changed: [String] = []
            for (index, turn) in turns.enumerated() {
                guard let text = rewrite(turn, index) else { return nil }
                changed.append(text)
            }
            copy.turns = changed
        } else if var scenario = sample.scenario, let opening = scenario.openingMessage {
            guard let changed = rewrite(opening, 0) else { return nil }
            scenario.openingMessage = changed
            copy.scenario = scenario
        } else {
            return nil
        }
        copy.id = ""
        copy.metadata["perturbationOf"] = .string(sample.id)
        copy.metadata["perturbation"] = .string(kind.rawValue)
        copy.metadata["originalSource"] = sample.metadata["source"]
        copy.metadata["source"] = "perturbation"
        if number > 0 { copy.metadata["perturbationVariant"] = .int(number) }
        for tag in ["perturbed", "perturbation:\(kind.rawValue)"] where !copy.tags.contains(tag) { copy.tags.append(tag) }
        return copy
    }
}
