import ChatbotTesterCore
import Foundation

/// Generates test cases from a `GenerateSpec`: the entry point of the Generator stage.
///
/// ```swift
/// let spec = try GenerateSpec.decode(config["generate"]!)
/// let generator = Generator(spec: spec, backends: backendSet, events: bus, baseDirectory: configDirectory)
/// let report = try await generator.write(to: datasetURL, resume: true)   // or:
/// for try await sample in generator.samples() { … }                       // then generator.report
/// ```
/// The stream is pulled: nothing is generated ahead of the consumer beyond the model calls in
/// flight (`synthesize.concurrency`), so a grid of millions of cases runs in constant memory.
public final class Generator: Sendable {
    public let spec: GenerateSpec
    let backends: BackendSet?
    let events: EventBus
    let baseDirectory: URL?
    let reportBox = Locked(GenerationReport())

    /// - Parameters:
    ///   - backends: the job's backends; needed when the spec synthesizes, enriches or paraphrases.
    ///   - events: receives `generate.*` events.
    ///   - baseDirectory: where relative document paths start (the config file's directory).
    public init(spec: GenerateSpec, backends: BackendSet? = nil, events: EventBus = EventBus(), baseDirectory: URL? = nil) {
        self.spec = spec
        self.backends = backends
        self.events = events
        self.baseDirectory = baseDirectory
    }

    /// The samples, streamed in order: templates, synthesized, personas, adversarial, each followed
    /// by its perturbation variants. Samples whose id is in `resume` are not yielded (their
    /// variants still are, unless written too).
    ///
    /// Errors thrown: configuration problems (unknown backend, unreadable document, missing
    /// secret), with the `generate.…` field in their location. Bad model output is never thrown:
    /// it is repaired or dropped and reported.
    ///
    /// Each call starts a fresh generation and resets `report`; run one at a time per generator.
    public func samples(resume: ResumeState = ResumeState()) -> AsyncThrowingStream<TestSample, any Error> {
        reportBox.withLock { $0 = GenerationReport() }
        let pipeline = GenerationPipeline(generator: self, resume: resume)
        return AsyncThrowingStream(unfolding: { try await pipeline.next() })
    }

    /// What the last (or running) generation produced, dropped, repaired and skipped.
    public var report: GenerationReport { reportBox.current }
}
