import ChatbotTesterCore

/// The `generate:` section of a job config: where test cases come from.
///
/// ```yaml
/// generate:
///   seed: 42
///   templates: [...]          # TemplateSpec
///   synthesize: {...}         # SynthesizeSpec
///   personas: {...}           # PersonaSpec
///   perturb: {...}            # PerturbSpec
///   adversarial: {...}        # AdversarialSpec
///   dedup: true
/// ```
/// Sources run in the order templates, synthesize, personas, adversarial; perturbation variants
/// follow their original. Unknown keys are errors naming the field.
public struct GenerateSpec: Sendable, Hashable, Codable {
    /// Drives every random choice; the same seed and spec give the same dataset (for LLM sources,
    /// as far as the model honours its `seed`).
    public var seed: UInt64
    public var templates: [TemplateSpec]
    public var synthesize: SynthesizeSpec?
    public var personas: PersonaSpec?
    public var perturb: PerturbSpec?
    public var adversarial: AdversarialSpec?
    /// Drop near-identical cases (case, whitespace and punctuation folded).
    public var dedup: Bool
    /// Stop after this many samples.
    public var limit: Int?
    /// Tags added to every sample.
    public var tags: [String]

    public init(
        seed: UInt64 = 0, templates: [TemplateSpec] = [], synthesize: SynthesizeSpec? = nil, personas: PersonaSpec? = nil,
        perturb: PerturbSpec? = nil, adversarial: AdversarialSpec? = nil, dedup: Bool = true, limit: Int? = nil,
        tags: [String] = []
    ) {
        self.seed = seed
        self.templates = templates
        self.synthesize = synthesize
        self.personas = personas
        self.perturb = perturb
        self.adversarial = adversarial
        self.dedup = dedup
        self.limit = limit
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case seed, templates, synthesize, personas, perturb, adversarial, dedup, limit, tags
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        templates = try c.decodeIfPresent([TemplateSpec].self, forKey: .templates) ?? []
        synthesize = try c.decodeIfPresent(SynthesizeSpec.self, forKey: .synthesize)
        personas = try c.decodeIfPresent(PersonaSpec.self, forKey: .personas)
        perturb = try c.decodeIfPresent(PerturbSpec.self, forKey: .perturb)
        adversarial = try c.decodeIfPresent(AdversarialSpec.self, forKey: .adversarial)
        dedup = try c.decodeIfPresent(Bool.self, forKey: .dedup) ?? true
        limit = try c.decodeIfPresent(Int.self, forKey: .limit)
        tags = try c.decodeIfPresent([String].self, forKey: .tags) ?? []
        if templates.isEmpty, synthesize == nil, personas == nil, adversarial == nil {
            throw DecodingError.dataCorruptedError(
                forKey: .templates, in: c,
                debugDescription: "nothing to generate: give templates, synthesize, personas or adversarial")
        }
        if let limit, limit < 1 {
            throw DecodingError.dataCorruptedError(forKey: .limit, in: c, debugDescription: "must be at least 1")
        }
    }

    /// The backend names the spec refers to, with the field that names each.
    public var backendReferences: [(field: String, name: String)] {
        var references: [(String, String)] = []
        if let synthesize { references.append(("synthesize.backend", synthesize.backend)) }
        if let backend = personas?.backend { references.append(("personas.backend", backend)) }
        if let simulator = personas?.simulator { references.append(("personas.simulator", simulator)) }
        if let backend = perturb?.backend, perturb?.kinds.contains(.paraphrase) == true {
            references.append(("perturb.backend", backend))
        }
        return references
    }
}
