import ChatbotTesterCore

/// `generate.perturb`: robustness variants of generated samples, each linked to its original.
///
/// ```yaml
/// perturb:
///   of: all                 # or a list of sources: [templates, synthesize, personas, adversarial]
///   kinds: [typos, casing, whitespace, punctuation, filler, paraphrase]
///   perSample: 1            # variants per kind per sample
///   backend: gen            # needed for paraphrase
/// ```
public struct PerturbSpec: Sendable, Hashable, Codable {
    /// Which generated samples get variants, by where they came from.
    public enum Source: String, Sendable, Hashable, Codable, CaseIterable, ConfigEnum {
        case all, templates, synthesize, personas, adversarial

        /// The `metadata.source` value of samples from this source.
        var metadataSource: String? {
            switch self {
            case .all: nil
            case .templates: "template"
            case .synthesize: "synthesize"
            case .personas: "persona"
            case .adversarial: "adversarial"
            }
        }
    }

    public var of: [Source]
    public var kinds: [PerturbationKind]
    public var perSample: Int
    /// The backend for `paraphrase`.
    public var backend: String?
    /// Share of words a `typos` variant touches (at least one word).
    public var typoRate: Double

    public init(
        of: [Source] = [.all], kinds: [PerturbationKind] = [.typos, .casing, .whitespace, .punctuation, .filler],
        perSample: Int = 1, backend: String? = nil, typoRate: Double = 0.15
    ) {
        self.of = of
        self.kinds = kinds
        self.perSample = perSample
        self.backend = backend
        self.typoRate = typoRate
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case of, kinds, perSample, backend, typoRate }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let single = try? c.decode(Source.self, forKey: .of) {
            of = [single]
        } else {
            of = try c.decodeIfPresent([Source].self, forKey: .of) ?? [.all]
        }
        kinds = try c.decodeIfPresent([PerturbationKind].self, forKey: .kinds) ?? [.typos, .casing, .whitespace, .punctuation, .filler]
        perSample = try c.decodeIfPresent(Int.self, forKey: .perSample) ?? 1
        backend = try c.decodeIfPresent(String.self, forKey: .backend)
        typoRate = try c.decodeIfPresent(Double.self, forKey: .typoRate) ?? 0.15
        if kinds.isEmpty { throw DecodingError.dataCorruptedError(forKey: .kinds, in: c, debugDescription: "must not be empty") }
        if perSample < 1 { throw DecodingError.dataCorruptedError(forKey: .perSample, in: c, debugDescription: "must be at least 1") }
        if !(0...1).contains(typoRate) {
            throw DecodingError.dataCorruptedError(forKey: .typoRate, in: c, debugDescription: "must be between 0 and 1")
        }
        if kinds.contains(.paraphrase), backend == nil {
            throw DecodingError.dataCorruptedError(forKey: .backend, in: c, debugDescription: "kind 'paraphrase' needs a 'backend'")
        }
    }

    /// Whether samples with this `metadata.source` get variants.
    func applies(toSource source: String?) -> Bool {
        of.contains(.all) || of.contains { $0.metadataSource == source }
    }
}

/// A kind of perturbation.
public enum PerturbationKind: String, Sendable, Hashable, Codable, CaseIterable, ConfigEnum {
    /// Keyboard-neighbour substitutions, swapped, dropped and doubled letters.
    case typos
    /// All lower, ALL UPPER, or rAnDoM case.
    case casing
    /// Doubled spaces, stray tabs/newlines, padding.
    case whitespace
    /// Punctuation removed or repeated.
    case punctuation
    /// Filler words and hedges ("um", "so basically").
    case filler
    /// A model rewrites the message with the same meaning.
    case paraphrase

    /// Whether the kind runs without a model.
    public var isDeterministic: Bool { self != .paraphrase }
}
