import ChatbotTesterCore
import DequeModule
import Foundation

/// The pull-driven state of one generation: sources in order, a stack of candidates (a base sample
/// is followed by its variants), dedup and id bookkeeping, the report.
actor GenerationPipeline {
    private enum Stage {
        case notStarted, templates, synthesize, personas, adversarial, finished
    }

    private struct Candidate {
        var sample: TestSample
        var isBase: Bool
    }

    private let generator: Generator
    private let spec: GenerateSpec
    private let resume: ResumeState
    private var stage = Stage.notStarted
    /// Pending candidates, last = next.
    private var stack: [Candidate] = []
    private var seenKeys: Set<UInt64>
    private var seenIds: Set<String> = []
    private var produced = 0

    private var grids: [TemplateGrid] = []
    private var gridIndex = 0
    private var gridOffset = 0
    private var synthesizer: Synthesizer?
    private var units: [SynthesisUnit] = []
    private var nextUnit = 0
    private var inflight = Deque<Task<SourceBatch, any Error>>()
    private var scenarios: ScenarioGrid?
    private var scenarioBackend: (any ChatBackend)?
    private var scenarioOffset = 0
    private var adversarialSamples: [TestSample] = []
    private var adversarialOffset = 0
    private var perturber: Perturber?
    private var paraphraser: Paraphraser?
    /// Paraphrase calls started ahead of their sample, keyed by input text (a window of 4).
    private var paraphraseTasks: [String: Task<StructuredCall.Outcome<String>, any Error>] = [:]
    private var paraphraseBacklog = Deque<String>()
    private let paraphraseWindow = 4

    init(generator: Generator, resume: ResumeState) {
        self.generator = generator
        self.spec = generator.spec
        self.resume = resume
        self.seenKeys = []
    }

    deinit {
        for task in inflight { task.cancel() }
        for task in paraphraseTasks.values { task.cancel() }
    }

    /// The next sample, or `nil` when generation is complete.
    func next() async throws -> TestSample? {
        if stage == .notStarted { try await prepare() }
        while true {
            if let limit = spec.limit, produced >= limit {
                finish()
                return nil
            }
            guard let candidate = stack.popLast() else {
                guard let batch = try await nextBatch() else {
                    finish()
                    return nil
                }
                absorb(batch)
                scheduleParaphrases(for: batch.samples)
                stack.append(contentsOf: batch.samples.reversed().map { Candidate(sample: $0, isBase: true) })
                continue
            }
            switch finalize(candidate.sample) {
            case .dropped:
                if candidate.isBase, let input = candidate.sample.input { cancelParaphrase(of: input) }
                continue
            case .existing(let sample):
                if candidate.isBase { try await pushVariants(of: sample) }
                continue
            case .accepted(let sample):
                if candidate.isBase { try await pushVariants(of: sample) }
                return sample
            }
        }
    }

    // MARK: - Set-up

    private func prepare() async throws {
        for (position, template) in spec.templates.enumerated() {
            grids.append(try TemplateGrid(spec: template, position: position, seed: spec.seed))
        }
        if let synthesize = spec.synthesize {
            let backend = try await chatBackend(synthesize.backend, field: "generate.synthesize.backend")
            synthesizer = Synthesizer(spec: synthesize, backend: backend, seed: spec.seed)
            units = try SynthesisUnit.units(of: synthesize, baseDirectory: generator.baseDirectory, field: "generate.synthesize")
        }
        if let personas = spec.personas {
            scenarios = ScenarioGrid(spec: personas)
            if let name = personas.backend { scenarioBackend = try await chatBackend(name, field: "generate.personas.backend") }
        }
        if let adversarial = spec.adversarial {
            adversarialSamples = AdversarialCatalog.samples(for: adversarial, seed: spec.seed)
        }
        if let perturb = spec.perturb {
            perturber = Perturber(seed: spec.seed, typoRate: perturb.typoRate)
            if perturb.kinds.contains(.paraphrase), let name = perturb.backend {
                let backend = try await chatBackend(name, field: "generate.perturb.backend")
                paraphraser = Paraphraser(backend: backend, seed: spec.seed, count: perturb.perSample)
            }
        }
        seenKeys = spec.dedup ? resume.dedupKeys : []
        stage = .templates
        generator.events.emit(GenerateStartedEvent(planned: plannedTotal(), sources: sourceNames()))
    }

    private func chatBackend(_ name: String, field: String) async throws -> any ChatBackend {
        guard let backends = generator.backends else {
            throw ChatbotTesterError(
                .invalidConfig, "backend '\(name)' is needed but no backends were given to the generator",
                location: SourceLocation(field: field))
        }
        do {
            return try await backends.chat(name)
        } catch var error as ChatbotTesterError {
            if error.location == nil || error.code == .invalidConfig && error.message.hasPrefix("no backend named") {
                error.location = SourceLocation(field: field)
            }
            throw error
        }
    }

    private func sourceNames() -> [String] {
        var names: [String] = []
        if !grids.isEmpty { names.append("templates") }
        if synthesizer != nil { names.append("synthesize") }
        if scenarios != nil { names.append("personas") }
        if !adversarialSamples.isEmpty { names.append("adversarial") }
        if perturber != nil { names.append("perturb") }
        return names
    }

    /// An upper bound of the samples to come (before dedup and drops).
    private func plannedTotal() -> Int? {
        var bySource: [(String, Int)] = [("template", grids.reduce(0) { $0 + $1.count })]
        bySource.append(("synthesize", units.reduce(0) { $0 + $1.plannedTypes.count }))
        bySource.append(("persona", scenarios?.count ?? 0))
        bySource.append(("adversarial", adversarialSamples.count))
        var total = 0
        for (source, count) in bySource {
            var perBase = 1
            if let perturb = spec.perturb, perturb.applies(toSource: source) { perBase += perturb.kinds.count * perturb.perSample }
            let (product, overflow) = count.multipliedReportingOverflow(by: perBase)
            if overflow { return nil }
            total = total.addingReportingOverflow(product).overflow ? Int.max : total + product
        }
        if let limit = spec.limit { total = min(total, limit) }
        return total
    }

    // MARK: - Sources

    /// The next batch of base samples from the current source, or `nil` when every source is done.
    private func nextBatch() async throws -> SourceBatch? {
        while true {
            switch stage {
            case .notStarted, .templates:
                while gridIndex < grids.count, gridOffset >= grids[gridIndex].count {
                    gridIndex += 1
                    gridOffset = 0
                }
                guard gridIndex < grids.count else {
                    stage = .synthesize
                    continue
                }
                // Up to 32 at a time: small enough to stay lazy, large enough for paraphrase look-ahead.
                let grid = grids[gridIndex]
                let end = min(grid.count, gridOffset + 32)
                let samples = (gridOffset..<end).map(grid.sample(at:))
                gridOffset = end
                return SourceBatch(origin: "template[\(gridIndex)]", samples: samples)
            case .synthesize:
                guard let synthesizer else {
                    stage = .personas
                    continue
                }
                let window = synthesizer.spec.concurrency
                while inflight.count < window, nextUnit < units.count {
                    let unit = units[nextUnit]
                    nextUnit += 1
                    if resume.units.contains(unit.key) {
                        generator.reportBox.withLock { $0.repaired("resumed-unit") }
                        continue
                    }
                    inflight.append(Task { try await synthesizer.synthesize(unit) })
                }
                guard !inflight.isEmpty else {
                    stage = .personas
                    continue
                }
                return try await inflight.removeFirst().value
            case .personas:
                guard let scenarios else {
                    stage = .adversarial
                    continue
                }
                guard let backend = scenarioBackend else {
                    guard scenarioOffset < scenarios.count else {
                        stage = .adversarial
                        continue
                    }
                    scenarioOffset += 1
                    return SourceBatch(origin: "personas", samples: [scenarios.sample(at: scenarioOffset - 1)])
                }
                // Enrichment calls run in a window of 4, results kept in scenario order.
                while inflight.count < 4, scenarioOffset < scenarios.count {
                    let position = scenarioOffset
                    scenarioOffset += 1
                    var sample = scenarios.sample(at: position)
                    let unit = "persona:\(sample.metadata["persona"]?.stringValue ?? "")/\(sample.metadata["intent"]?.stringValue ?? "")"
                    if resume.units.contains(unit) {
                        generator.reportBox.withLock { $0.repaired("resumed-unit") }
                        continue
                    }
                    sample.metadata["generationUnit"] = .string(unit)
                    let seed = spec.seed
                    inflight.append(Task { try await scenarios.enrich(sample, backend: backend, seed: seed, position: position) })
                }
                guard !inflight.isEmpty else {
                    stage = .adversarial
                    continue
                }
                return try await inflight.removeFirst().value
            case .adversarial:
                guard adversarialOffset < adversarialSamples.count else {
                    stage = .finished
                    continue
                }
                let samples = Array(adversarialSamples[adversarialOffset...])
                adversarialOffset = adversarialSamples.count
                return SourceBatch(origin: "adversarial", samples: samples)
            case .finished:
                return nil
            }
        }
    }

    private func pushVariants(of original: TestSample) async throws {
        guard let perturb = spec.perturb, let perturber,
            perturb.applies(toSource: original.metadata["source"]?.stringValue)
        else { return }
        var variants: [TestSample] = []
        for kind in perturb.kinds {
            if kind == .paraphrase {
                guard let paraphraser, let input = original.input else { continue }
                let unit = "paraphrase:\(original.id)"
                if resume.units.contains(unit) {
                    cancelParaphrase(of: input)
                    generator.reportBox.withLock { $0.repaired("resumed-unit") }
                    continue
                }
                paraphraseBacklog.removeAll { $0 == input }
                let task = paraphraseTasks.removeValue(forKey: input) ?? Task { try await paraphraser.paraphrases(of: input) }
                launchParaphrases()
                let batch = Paraphraser.batch(of: original, outcome: try await task.value, unit: unit)
                absorb(batch)
                variants += batch.samples
                continue
            }
            for number in 0..<perturb.perSample {
                if let variant = perturber.variant(of: original, kind: kind, number: number) { variants.append(variant) }
            }
        }
        let originalText = Self.userText(of: original)
        variants.removeAll { variant in
            guard Self.userText(of: variant) == originalText else { return false }
            let kind = variant.metadata["perturbation"]?.stringValue ?? "?"
            drop(DroppedItem(reason: .unchangedVariant, detail: "the \(kind) perturbation left the text unchanged", origin: "perturb \(kind) of \(original.id)"))
            return true
        }
        stack.append(contentsOf: variants.reversed().map { Candidate(sample: $0, isBase: false) })
    }

    /// Queues paraphrase calls for the samples of a new batch, so up to `paraphraseWindow` run
    /// while earlier samples are consumed.
    private func scheduleParaphrases(for samples: [TestSample]) {
        guard paraphraser != nil, let perturb = spec.perturb else { return }
        for sample in samples {
            guard let input = sample.input, perturb.applies(toSource: sample.metadata["source"]?.stringValue) else { continue }
            let tentativeId = sample.id.isEmpty ? SampleIdentity.contentId(of: sample) : sample.id
            if resume.units.contains("paraphrase:\(tentativeId)") { continue }
            if paraphraseTasks[input] == nil, !paraphraseBacklog.contains(input) { paraphraseBacklog.append(input) }
        }
        launchParaphrases()
    }

    private func launchParaphrases() {
        guard let paraphraser else { return }
        while paraphraseTasks.count < paraphraseWindow, !paraphraseBacklog.isEmpty {
            let input = paraphraseBacklog.removeFirst()
            paraphraseTasks[input] = Task { try await paraphraser.paraphrases(of: input) }
        }
    }

    private func cancelParaphrase(of input: String) {
        paraphraseBacklog.removeAll { $0 == input }
        paraphraseTasks.removeValue(forKey: input)?.cancel()
        launchParaphrases()
    }

    // MARK: - Bookkeeping

    private enum Verdict {
        case accepted(TestSample)
        case existing(TestSample)
        case dropped
    }

    private func finalize(_ candidate: TestSample) -> Verdict {
        var sample = candidate
        let origin = Self.origin(of: sample)
        for tag in spec.tags where !sample.tags.contains(tag) { sample.tags.append(tag) }
        if sample.id.isEmpty { sample.id = SampleIdentity.contentId(of: sample) }
        if seenIds.contains(sample.id) {
            var suffix = 2
            while seenIds.contains("\(sample.id)-\(suffix)") { suffix += 1 }
            sample.id = "\(sample.id)-\(suffix)"
        }
        seenIds.insert(sample.id)
        if resume.ids.contains(sample.id) {
            produced += 1
            generator.reportBox.withLock { $0.skippedExisting += 1 }
            return .existing(sample)
        }
        if spec.dedup, !seenKeys.insert(SampleIdentity.dedupDigest(of: sample)).inserted {
            drop(DroppedItem(reason: .duplicate, detail: "near-identical to an earlier case: \(Self.excerpt(sample))", origin: origin))
            return .dropped
        }
        // The rules `chatbot-tester validate` checks.
        if let problem = SampleCheck.problem(with: sample) {
            drop(DroppedItem(reason: .invalidSample, detail: problem, origin: origin))
            return .dropped
        }
        produced += 1
        let source = sample.metadata["source"]?.stringValue ?? "unknown"
        generator.reportBox.withLock {
            $0.generated += 1
            $0.bySource[source, default: 0] += 1
        }
        generator.events.emit(GenerateSampleEvent(id: sample.id, source: source))
        return .accepted(sample)
    }

    private static func userText(of sample: TestSample) -> String? {
        if let input = sample.input { return input }
        if let turns = sample.turns { return turns.joined(separator: "\u{1F}") }
        return sample.scenario?.openingMessage
    }

    private func absorb(_ batch: SourceBatch) {
        generator.reportBox.withLock { report in
            report.modelCalls += batch.modelCalls
            for repair in batch.repairs { report.repaired(repair) }
        }
        for (item, count) in batch.drops { drop(item, count: count) }
    }

    private func drop(_ item: DroppedItem, count: Int = 1) {
        generator.reportBox.withLock { $0.record(item, count: count) }
        generator.events.emit(GenerateDroppedEvent(item, count: count))
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        stage = .finished
        for task in inflight { task.cancel() }
        inflight.removeAll()
        for task in paraphraseTasks.values { task.cancel() }
        paraphraseTasks.removeAll()
        paraphraseBacklog.removeAll()
        generator.events.emit(GenerateCompletedEvent(report: generator.report))
    }

    private var finished = false

    private static func origin(of sample: TestSample) -> String {
        if let kind = sample.metadata["perturbation"]?.stringValue, let original = sample.metadata["perturbationOf"]?.stringValue {
            return "perturb \(kind) of \(original)"
        }
        if let unit = sample.metadata["generationUnit"]?.stringValue { return unit }
        if let template = sample.metadata["template"]?.intValue { return "template[\(template)]" }
        return sample.metadata["source"]?.stringValue ?? "generate"
    }

    private static func excerpt(_ sample: TestSample) -> String {
        let text = userText(of: sample) ?? sample.scenario?.goal ?? ""
        return text.count > 80 ? String(text.prefix(80)) + "…" : text
    }
}
