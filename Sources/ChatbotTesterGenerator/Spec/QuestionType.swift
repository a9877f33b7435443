/// The kinds of question LLM synthesis asks for.
public enum QuestionType: String, Sendable, Hashable, Codable, CaseIterable, ConfigEnum {
    case factual
    case howTo = "how-to"
    case multiHop = "multi-hop"
    case outOfScope = "out-of-scope"
    case ambiguous

    /// What the model is told this type means.
    public var instruction: String {
        switch self {
        case .factual: "a question answered directly by a fact in the material; expected is that fact"
        case .howTo: "asks how to do something; expected gives the steps"
        case .multiHop: "needs two or more facts from the material combined; expected combines them"
        case .outOfScope:
            "asks something the material does not cover; expected says the assistant cannot answer that and offers what it can do, without inventing facts"
        case .ambiguous: "is underspecified; expected asks a clarifying question before answering"
        }
    }

    /// The evaluation criterion used when the model gives none.
    public var defaultCriteria: String {
        switch self {
        case .factual: "States the correct fact from the reference without contradicting it."
        case .howTo: "Gives correct, complete steps in a sensible order."
        case .multiHop: "Combines all the needed facts correctly into one answer."
        case .outOfScope: "Says it cannot answer from what it knows and does not invent facts."
        case .ambiguous: "Asks a clarifying question instead of guessing."
        }
    }

    /// Reads a type leniently ("How To", "how_to", "multihop" → the case), or `nil`.
    public init?(lenient text: String) {
        let folded = text.lowercased().filter { $0.isLetter }
        guard let match = Self.allCases.first(where: { $0.rawValue.filter(\.isLetter) == folded }) else { return nil }
        self = match
    }
}
