import ChatbotTesterCore
import Foundation

extension FileHandle {
    /// Creates (or truncates) `url` and opens it for writing.
    static func create(_ url: URL) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw ChatbotTesterError(.io, "cannot create \(url.path)", location: SourceLocation(source: url.path))
        }
        return try FileHandle(forWritingTo: url)
    }
}
