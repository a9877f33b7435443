import ChatbotTesterCore

/// The rules `TestSample`'s decoder enforces (what `chatbot-tester validate` checks), applied to a
/// sample in memory: the generator checks every sample this way before yielding it, at a fraction
/// of the cost of an encode/decode round trip. The tests pin it to the decoder.
public enum SampleCheck {
    /// What is wrong with `sample` as a dataset line, or `nil` when it is valid.
    public static func problem(with sample: TestSample) -> String? {
        if sample.id.isEmpty { return "id must not be empty" }
        if sample.schemaVersion > TestSample.currentSchemaVersion { return "schemaVersion \(sample.schemaVersion) is too new" }
        let present = [sample.input != nil, sample.turns != nil, sample.scenario != nil].filter { $0 }.count
        if present == 0 { return "a case needs one of 'input', 'turns' or 'scenario'" }
        if present > 1 { return "a case takes only one of 'input', 'turns' or 'scenario'" }
        if let turns = sample.turns, turns.isEmpty { return "'turns' must not be empty" }
        if let scenario = sample.scenario, scenario.maxTurns < 1 { return "scenario.maxTurns must be at least 1" }
        if let bad = sample.metadata.first(where: { !isFinite($0.value) }) { return "metadata.\(bad.key) holds a non-finite number" }
        return nil
    }

    private static func isFinite(_ value: JSONValue) -> Bool {
        switch value {
        case .double(let number): number.isFinite
        case .array(let items): items.allSatisfy(isFinite)
        case .object(let members): members.values.allSatisfy(isFinite)
        default: true
        }
    }
}
