import ChatbotTesterCore
import Foundation

/// Who a backend talks to, for error messages: the instance's config path and the peer it called.
///
/// The peer is the URL without its query (queries may carry keys) or the program path.
struct BackendPeer: Sendable, Hashable {
    /// `backends.<instance>`.
    var field: String
    /// `http://host:port/path` or `exec:/path/to/program`.
    var peer: String

    init(context: ComponentContext, peer: String) {
        self.field = [context.section, context.instanceName].filter { !$0.isEmpty }.joined(separator: ".")
        self.peer = peer
    }

    init(field: String, url: String) {
        self.field = field
        self.peer = Self.redactedURL(url)
    }

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
        let text = String(decoding: body.prefix(limit * 4), as: UTF8.self)
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }

    /// An error for a reply that arrived but cannot be understood.
    func badResponse(_ message: String, body: Data? = nil, retry: RetryDisposition = .no) -> ChatbotTesterError {
        ChatbotTesterError(
            .badResponse, "\(peer): \(message)", location: location, retry: retry,
            bodyExcerpt: body.flatMap { Self.excerpt($0) })
    }
}
