import Foundation
import ChatbotTesterCore
import ChatbotTesterEvaluator

/// The registries and middleware a job is built with. The umbrella module's
/// `PipelineComponents.builtin()` has every built-in type; add your own with `register` calls.
public struct PipelineComponents: Sendable {
    /// Backend types (built-ins plus your own).
    public var backends: BackendRegistry
    /// Metric types (built-ins plus your own).
    public var metrics: MetricRegistry
    /// Wraps every built backend in middleware; `BackendMiddleware.standard` by default.
    public var middleware: BackendWrapper?
    /// Opens remote stores (`s3://…`) named by `output:`/`--out` and dataset paths; `nil` accepts
    /// local paths only. `PipelineComponents.builtin()` opens S3-compatible stores.
    public var stores: ArtifactStoreOpener?

    public init(
        backends: BackendRegistry, metrics: MetricRegistry = .builtinMetrics, middleware: BackendWrapper? = BackendMiddleware.standard,
        stores: ArtifactStoreOpener? = nil
    ) {
        self.backends = backends
        self.metrics = metrics
        self.middleware = middleware
        self.stores = stores
    }
}

/// What the command line adds to a job config.
public struct JobSettings: Sendable {
    /// Where outputs go; the config's `output`, else `runs/<name>`.
    public var outputDirectory: String?
    /// Continue an interrupted run in the same output directory.
    public var resume: Bool
    /// With `resume`: play again the cases whose recorded results are errors (`--retry-errors`).
    public var retryErrors: Bool = false
    /// Overrides `run.concurrency`.
    public var concurrency: Int?
    /// Resolves `{env: NAME}` references.
    public var secrets: SecretResolver
    /// The backends' on-disk state (response cache…); `<output>/.state` when `nil`.
    public var stateDirectory: URL?

    public init(outputDirectory: String? = nil, resume: Bool = false, concurrency: Int? = nil, secrets: SecretResolver = SecretResolver()) {
        self.outputDirectory = outputDirectory
        self.resume = resume
        self.concurrency = concurrency
        self.secrets = secrets
    }
}
