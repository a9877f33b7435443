import ChatbotTesterBackends
import ChatbotTesterCore
import ChatbotTesterEvaluator
import ChatbotTesterPipeline
import ChatbotTesterStorageS3

extension BackendRegistry {
    /// A backend registry with every built-in type and the middleware keys (`retry`, `rateLimit`,
    /// `cache`, …) accepted on each. Add your own types with `register`.
    public static func builtin() -> BackendRegistry {
        var registry = BackendRegistry(sharedOptions: BackendMiddleware.optionSpecs)
        BuiltinBackends.register(into: &registry)
        return registry
    }
}

extension PipelineComponents {
    /// Every built-in backend and metric type with the standard middleware, and S3-compatible
    /// stores for `s3://` outputs and datasets: what the CLI uses.
    ///
    /// ```swift
    /// var components = PipelineComponents.builtin()
    /// components.backends.register("my-llm", summary: "Our in-house model") { options, context in
    ///     MyLLM(endpoint: try options.requiredString("endpoint"))
    /// }
    /// ```
    public static func builtin() -> PipelineComponents {
        PipelineComponents(
            backends: .builtin(), metrics: .builtinMetrics, middleware: BackendMiddleware.standard,
            stores: { url in try ArtifactStoreLocation(parsing: url).open() })
    }
}
