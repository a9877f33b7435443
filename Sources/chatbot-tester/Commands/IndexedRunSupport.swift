import ArgumentParser
import ChatbotTester
import Foundation

/// What the indexed-run commands (`plan`, `worker --store`, `status`, `merge`) share: the store
/// named by `--store`, and a private scratch directory removed at the end.
struct IndexedStore {
    let store: any ArtifactStore
    /// The store's URL ending in `/`, prefixed to keys in messages.
    let name: String

    init(_ url: String) throws {
        let location = try ArtifactStoreLocation(parsing: url)
        store = try location.open()
        let text = location.description
        name = text.hasSuffix("/") ? text : text + "/"
    }

    /// Runs `body` with a fresh private (0700) directory under the temporary directory, removed after.
    static func withScratch<T>(_ body: (URL) async throws -> T) async throws -> T {
        var template = Array((NSTemporaryDirectory() + "/chatbot-tester-indexed-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ChatbotTesterError(.io, "cannot create a scratch directory under \(NSTemporaryDirectory()): \(String(cString: strerror(errno)))")
        }
        let url = URL(fileURLWithPath: String(cString: made), isDirectory: true)
        defer { try? FileManager.default.removeItem(at: url) }
        return try await body(url)
    }
}
