import AsyncHTTPClient
import ChatbotTesterCore
import NIOCore

/// The built-in backend types: `openai`, `azure-openai`, `anthropic`, `http`, `exec`, `scripted`.
///
/// ```swift
/// var registry = BackendRegistry()
/// BuiltinBackends.register(into: &registry)
/// let backends = BackendSet(config: config, registry: registry)
/// ```
///
/// ## HTTP client lifetime
/// Every HTTP backend built from a registry shares one `HTTPClient`. By default that is
/// ``sharedHTTPClient``: created on first use, kept for the life of the process (like
/// `HTTPClient.shared`, so nobody has to shut it down) and sized for load testing (a
/// 1024-connection pool per host instead of 8). Pass your own client to `register(into:httpClient:)`
/// to control its configuration; you then own it and shut it down after the last backend call
/// (`try await client.shutdown()`).
///
/// With ``sharedHTTPClient``, non-streaming requests to plain `http://` targets on an IPv4 address
/// or `localhost` take the package's own HTTP/1.1 client instead (same bytes, replies and errors, a
/// fraction of the CPU; `CHATBOT_TESTER_HTTP_CLIENT=asynchttpclient` turns it off). A client you
/// pass yourself takes every request. See docs/backends.md, "Which HTTP client a request takes".
public enum BuiltinBackends {
    /// The names of the built-in types.
    public static let typeNames = ["anthropic", "azure-openai", "exec", "http", "openai", "scripted"]

    /// The process-wide client the built-in HTTP backends use unless given another. Never shut down.
    /// Made on first use: registering the built-in types does not make it, nor does building a
    /// backend; the first request that needs AsyncHTTPClient does (a streamed reply, `https://`, a
    /// host name other than `localhost`). A process whose requests all take the own HTTP/1.1 path
    /// never starts its event loop threads.
    public static let sharedHTTPClient: HTTPClient = {
        let client = makeHTTPClient()
        sharedHTTPClientIdentity.withLock { $0 = ObjectIdentifier(client) }
        return client
    }()

    /// The shared client's identity once it is made (read without making it).
    private static let sharedHTTPClientIdentity = Locked<ObjectIdentifier?>(nil)

    /// Whether `client` is ``sharedHTTPClient``, asked without making it.
    static func isSharedHTTPClient(_ client: HTTPClient) -> Bool {
        sharedHTTPClientIdentity.withLock { $0 == ObjectIdentifier(client) }
    }

    /// A client configured for backends: no redirects across hosts, a large per-host pool,
    /// timeouts left to each request's deadline, and no connection-establishment retries of its
    /// own: a refused connection, a DNS or a TLS failure ends that attempt at once, and the retry
    /// middleware alone decides (with its backoff) whether to try again.
    /// - Parameters:
    ///   - connectionsPerHost: the pool's per-host connection limit.
    ///   - connectTimeoutSeconds: how long one connection attempt may take (a peer that never answers
    ///     the handshake).
    public static func makeHTTPClient(connectionsPerHost: Int = 1024, connectTimeoutSeconds: Int64 = 10) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(connectTimeoutSeconds))
        configuration.redirectConfiguration = .follow(max: 5, allowCycles: false)
        configuration.decompression = .enabled(limit: .ratio(50))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Registers every built-in type.
    /// - Parameter httpClient: the client the HTTP backends share; nil (the default) for
    ///   ``sharedHTTPClient``, made when a request first needs it.
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
