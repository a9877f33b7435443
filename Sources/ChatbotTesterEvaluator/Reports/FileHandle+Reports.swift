import ChatbotTesterCore
import Foundation

extension FileHandle {
    /// Creates (or truncates) `url` and opens it for writing.
    static func create(_ url: URL) throws -> FileHandle {
        try opening(url, for: .truncating)
    }
}
