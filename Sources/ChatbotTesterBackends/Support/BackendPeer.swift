import ChatbotTesterCore
import Foundation

/// Who a backend talks to, for error messages: the instance's config path and the peer it called.
///
/// The peer is the URL without its query (queries may carry keys) or the program path.
struct BackendPeer: Sendable, Hashable {
    /// `backends.<instance>`.
    var field: String
    /// The URL or program as given; redacted only when an error needs it (cheap on the hot path).
    private var source: String
    private var isURL: Bool

    init(context: ComponentContext, peer: String) {
        self.field = [context.section, context.instanceName].filter { !$0.isEmpty }.joined(separator: ".")
        self.source = peer
        self.isURL = false
    }

    init(field: String, url: String) {
        self.field = field
        self.source = url
        self.isURL = true
    }

    /// `http://host:port/path` (no query, no user info) or `exec:/path/to/program`.
    var peer: String { isURL ? Self.redactedURL(source) : source }

    /// The URL without query, fragment or user info.
    static func redactedURL(_ url: String) -> String {
        guard var components = URLComponents(string: url) else {
            return String(url.prefix { $0 != "?" && $0 != "#" })
        }
        components.query = nil
        components.fragment = nil
        components.user = nil
        components.password = nil
        return components.string ?? url
    }

    var location: SourceLocation { SourceLocation(source: peer, field: field) }

    /// The first `limit` characters of a reply body, for `ChatbotTesterError.bodyExcerpt`.
    static func excerpt(_ body: Data, limit: Int = 300) -> String? {
        guard !body.isEmpty else { return nil }
        // Masked before it is cut, so a key the server echoes is never left half-visible at the cut.
        let text = String(decoding: SecretMasker.shared.mask(body.prefix(limit * 4 + 4096)).prefix(limit * 4), as: UTF8.self)
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }

    /// An error for a reply that arrived but cannot be understood.
    func badResponse(_ message: String, body: Data? = nil, retry: RetryDisposition = .no) -> ChatbotTesterError {
        ChatbotTesterError(
            .badResponse, "\(peer): \(message)", location: location, retry: retry,
            bodyExcerpt: body.flatMap { Self.excerpt($0) })
    }
}
