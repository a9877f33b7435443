import ChatbotTesterCore
import ChatbotTesterHTTP

/// The built-in backend types: `openai`, `azure-openai`, `anthropic`, `http`, `exec`, `scripted`.
///
/// ```swift
/// var registry = BackendRegistry()
/// BuiltinBackends.register(into: &registry)
/// let backends = BackendSet(config: config, registry: registry)
/// ```
///
/// ## HTTP client
/// Every HTTP backend built from a registry shares one ``HTTPClient`` (the package's own, in
/// `ChatbotTesterHTTP`). By default that is ``sharedHTTPClient``: kept for the life of the
/// process, nothing to shut down, with a 1024-connection keep-alive pool per host. Plain `http://`
/// goes over the own HTTP/1.1 path, `https://` through `URLSession`. Pass your own client to
/// `register(into:httpClient:)` for another pool size or connect timeout, or to send everything
/// through `URLSession` (`HTTPClient(route: .foundation)`). See docs/backends.md, "Which HTTP
/// client a request takes".
public enum BuiltinBackends {
    /// The names of the built-in types.
    public static let typeNames = ["anthropic", "azure-openai", "exec", "http", "openai", "scripted"]

    /// The process-wide client the built-in HTTP backends use unless given another (``HTTPClient/shared``).
    /// Making it starts nothing: the own path's thread starts with the process's first plain
    /// `http://` request, the `URLSession` with the first `https://` one.
    public static var sharedHTTPClient: HTTPClient { HTTPClient.shared }

    /// A client configured for backends: a large per-host pool, timeouts left to each request's
    /// deadline, and no retries of its own (a refused connection, a DNS or a TLS failure ends that
    /// attempt at once; the retry middleware alone decides, with its backoff, whether to try again).
    /// - Parameters:
    ///   - connectionsPerHost: idle keep-alive connections kept per host and port.
    ///   - connectTimeoutSeconds: how long one connection attempt may take (a peer that never answers
    ///     the handshake).
    public static func makeHTTPClient(connectionsPerHost: Int = 1024, connectTimeoutSeconds: Int64 = 10) -> HTTPClient {
        HTTPClient(connectionsPerHost: connectionsPerHost, connectTimeout: .seconds(connectTimeoutSeconds))
    }

    /// Registers every built-in type.
    /// - Parameter httpClient: the client the HTTP backends share; nil (the default) for ``sharedHTTPClient``.
    public static func register(into registry: inout BackendRegistry, httpClient: HTTPClient? = nil) {
        for type in types(httpClient: httpClient) { registry.register(type) }
    }

    /// A registry holding only the built-in types.
    /// - Parameter httpClient: as for ``register(into:httpClient:)``.
    public static func registry(httpClient: HTTPClient? = nil) -> BackendRegistry {
        var registry = BackendRegistry()
        register(into: &registry, httpClient: httpClient)
        return registry
    }

    /// The built-in types, for listing or selective registration.
    /// - Parameter httpClient: as for ``register(into:httpClient:)``.
    public static func types(httpClient: HTTPClient? = nil) -> [ComponentType<any ModelBackend>] {
        [
            OpenAIBackend.openAIType(client: httpClient), OpenAIBackend.azureType(client: httpClient),
            AnthropicBackend.registration(client: httpClient), HTTPChatbotBackend.registration(client: httpClient),
            ExecBackend.registration, ScriptedBackend.registration,
        ]
    }
}
