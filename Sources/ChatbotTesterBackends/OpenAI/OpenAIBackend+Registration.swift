import ChatbotTesterHTTP
import ChatbotTesterCore
import Foundation

extension OpenAIBackend {
    static let streamSpec = OptionSpec(
        "stream", .bool, default: "false",
        "stream replies (SSE, stream_options.include_usage) and record time to first token and tokens/s")

    static let openAIOptions: [OptionSpec] =
        [
            OptionSpec("baseURL", .string, default: "https://api.openai.com/v1", "API root; /chat/completions and /embeddings are appended"),
            OptionSpec("model", .string, required: true, "model name sent with each request"),
            OptionSpec("embeddingModel", .string, "model for embeddings (default: model)"),
            OptionSpec("apiKey", .secret, "bearer token, e.g. {env: OPENAI_API_KEY}; optional for local servers"),
            OptionSpec("organization", .string, "OpenAI-Organization header"),
            HeaderOptions.spec,
            OptionSpec("extraBody", .object, "extra members merged into each chat request body"),
            streamSpec,
            HeaderOptions.timeoutSpec(),
        ] + SamplingDefaults.optionSpecs()

    static let azureOptions: [OptionSpec] =
        [
            OptionSpec("endpoint", .string, required: true, "resource endpoint, e.g. https://NAME.openai.azure.com"),
            OptionSpec("deployment", .string, required: true, "chat deployment name"),
            OptionSpec("embeddingDeployment", .string, "embedding deployment name (default: deployment)"),
            OptionSpec("apiVersion", .string, default: "2024-10-21", "api-version query parameter"),
            OptionSpec("apiKey", .secret, required: true, "api-key header, e.g. {env: AZURE_OPENAI_API_KEY}"),
            HeaderOptions.spec,
            OptionSpec("extraBody", .object, "extra members merged into each chat request body"),
            streamSpec,
            HeaderOptions.timeoutSpec(),
        ] + SamplingDefaults.optionSpecs()

    static func openAIType(client: HTTPClient?) -> ComponentType<any ModelBackend> {
        ComponentType(
            name: "openai", summary: "OpenAI-compatible chat completions + embeddings (OpenAI, llama.cpp, Ollama, vLLM)",
            options: openAIOptions
        ) { options, context in
            var base = try options.string("baseURL") ?? "https://api.openai.com/v1"
            while base.hasSuffix("/") { base.removeLast() }
            var headers: [(String, String)] = []
            if let key = try options.secret("apiKey") { headers.append(("Authorization", "Bearer \(key)")) }
            if let organization = try options.string("organization") { headers.append(("OpenAI-Organization", organization)) }
            headers += try HeaderOptions.resolve(options)
            return OpenAIBackend(
                http: try BackendHTTP(options: options, client: client),
                endpoint: Endpoint(
                    chatURL: base + "/chat/completions", embeddingsURL: base + "/embeddings", headers: headers,
                    sendsModel: true),
                model: try options.requiredString("model"), embeddingModel: try options.string("embeddingModel"),
                sampling: try SamplingDefaults(options), extraBody: try options.object("extraBody") ?? [:],
                streams: try options.bool("stream") ?? false)
        }
    }

    static func azureType(client: HTTPClient?) -> ComponentType<any ModelBackend> {
        ComponentType(
            name: "azure-openai", summary: "Azure OpenAI deployments (chat completions + embeddings, api-key header)",
            options: azureOptions
        ) { options, context in
            var endpoint = try options.requiredString("endpoint")
            while endpoint.hasSuffix("/") { endpoint.removeLast() }
            let version = try options.string("apiVersion") ?? "2024-10-21"
            let deployment = try options.requiredString("deployment")
            let embeddingDeployment = try options.string("embeddingDeployment") ?? deployment
            func url(_ deployment: String, _ operation: String) -> String {
                let name = deployment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? deployment
                let query = version.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? version
                return "\(endpoint)/openai/deployments/\(name)/\(operation)?api-version=\(query)"
            }
            guard let key = try options.secret("apiKey") else {
                throw ChatbotTesterError(
                    .invalidConfig, "missing required option 'apiKey'",
                    location: SourceLocation(field: context.fieldPath("apiKey")))
            }
            return OpenAIBackend(
                http: try BackendHTTP(options: options, client: client),
                endpoint: Endpoint(
                    chatURL: url(deployment, "chat/completions"), embeddingsURL: url(embeddingDeployment, "embeddings"),
                    headers: [("api-key", key)] + (try HeaderOptions.resolve(options)), sendsModel: false),
                model: deployment, embeddingModel: embeddingDeployment, sampling: try SamplingDefaults(options),
                extraBody: try options.object("extraBody") ?? [:], streams: try options.bool("stream") ?? false)
        }
    }
}

extension BackendHTTP {
    /// The HTTP layer for a backend instance, with its `requestTimeoutSeconds`.
    init(options: ComponentOptions, client: HTTPClient?, defaultTimeout: Double = 600) throws {
        let seconds = try options.double("requestTimeoutSeconds") ?? defaultTimeout
        guard seconds > 0 else {
            throw ChatbotTesterError(
                .invalidConfig, "expected a positive number of seconds",
                location: SourceLocation(field: options.context.fieldPath("requestTimeoutSeconds")))
        }
        self.init(
            client: client, field: [options.context.section, options.context.instanceName].filter { !$0.isEmpty }.joined(separator: "."),
            timeoutSeconds: seconds)
    }
}
