/// A backend with middleware around it; lets tests and tools reach the stack and the bare backend.
public protocol MiddlewareBackend: ModelBackend {
    /// The middleware of this instance.
    var middleware: MiddlewareStack { get }
    /// The backend inside the middleware.
    var wrapped: any ModelBackend { get }
}

/// A chat-only backend with middleware.
struct MiddlewareChatBackend: ChatBackend, MiddlewareBackend {
    let inner: any ChatBackend
    let middleware: MiddlewareStack
    var wrapped: any ModelBackend { inner }

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        try await middleware.send(request, to: inner)
    }
}

/// An embedding-only backend with middleware.
struct MiddlewareEmbeddingBackend: EmbeddingBackend, MiddlewareBackend {
    let inner: any EmbeddingBackend
    let middleware: MiddlewareStack
    var wrapped: any ModelBackend { inner }

    func embed(_ inputs: [String]) async throws -> EmbeddingResponse {
        try await middleware.embed(inputs, with: inner)
    }
}

/// A backend that chats and embeds, with middleware; both share one pool and one budget.
struct MiddlewareChatEmbeddingBackend: ChatBackend, EmbeddingBackend, MiddlewareBackend {
    let chat: any ChatBackend
    let embedding: any EmbeddingBackend
    let wrapped: any ModelBackend
    let middleware: MiddlewareStack

    func send(_ request: ChatRequest) async throws -> ChatResponse {
        try await middleware.send(request, to: chat)
    }

    func embed(_ inputs: [String]) async throws -> EmbeddingResponse {
        try await middleware.embed(inputs, with: embedding)
    }
}
