import ChatbotTesterCore
import Foundation

/// Opens the artifact store a URL names (`s3://bucket/prefix`). The umbrella module's
/// `PipelineComponents.builtin()` opens S3-compatible stores; the pipeline itself knows no scheme.
public typealias ArtifactStoreOpener = @Sendable (_ url: String) throws -> any ArtifactStore

/// Store URLs as the pipeline sees them: `scheme://…` other than `file://` is remote; everything
/// else is a local path.
public enum RemoteLocation {
    /// Whether `text` names a remote store or object (`s3://…`), not a local path.
    public static func isRemote(_ text: String) -> Bool {
        guard let range = text.range(of: "://") else { return false }
        let scheme = text[..<range.lowerBound].lowercased()
        return !scheme.isEmpty && scheme != "file" && scheme.allSatisfy { $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" }
    }

    /// `s3://bucket/dir/file.jsonl` → (`s3://bucket/dir/`, `file.jsonl`): the store holding an
    /// object and the object's key in it.
    ///
    /// - Throws: `.invalidInput` when the URL names no object (a bare bucket, or a trailing `/`).
    public static func splitObject(_ url: String) throws -> (store: String, key: String) {
        let schemeEnd = url.range(of: "://")!.upperBound
        guard let slash = url[schemeEnd...].lastIndex(of: "/"), url.index(after: slash) < url.endIndex else {
            throw ChatbotTesterError(
                .invalidInput, "'\(url)' names no object (give the object's full key: s3://bucket/path/file.jsonl)",
                location: SourceLocation(source: url))
        }
        return (String(url[...slash]), String(url[url.index(after: slash)...]))
    }

    /// `store` without a trailing slash, then `/name`.
    public static func join(_ store: String, _ name: String) -> String {
        var base = store
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/" + name
    }

    /// Copies the artifact `key` of `store` into the local file `target` by ranged reads of
    /// `chunkBytes`, never the whole object in memory. The file is written to a temporary name and
    /// renamed, so `target` is whole or absent.
    ///
    /// - Throws: the store's error for a missing object or refused credentials (naming `s3://bucket/key`).
    @discardableResult
    public static func download(_ key: String, from store: any ArtifactStore, to target: URL, chunkBytes: Int = 8 << 20) async throws -> Int {
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        let partial = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).download")
        let handle = try FileHandle.opening(partial, for: .truncating)
        var total = 0
        do {
            defer { try? handle.close() }
            while true {
                let chunk = try await store.read(key, range: total..<(total + chunkBytes))
                if !chunk.isEmpty { try handle.write(contentsOf: chunk) }
                total += chunk.count
                if chunk.count < chunkBytes { break }
            }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
        guard rename(partial.path, target.path) == 0 else {
            throw ChatbotTesterError(.io, "cannot rename \(partial.path): \(String(cString: strerror(errno)))", location: SourceLocation(source: target.path))
        }
        return total
    }

    /// Opens the store holding the object `url` and copies the object into `target`.
    @discardableResult
    public static func download(_ url: String, opener: ArtifactStoreOpener?, to target: URL) async throws -> Int {
        let (storeURL, key) = try splitObject(url)
        return try await download(key, from: try open(storeURL, opener: opener), to: target)
    }

    /// Opens `url` with `opener`, or says that this build opens no remote store.
    public static func open(_ url: String, opener: ArtifactStoreOpener?) throws -> any ArtifactStore {
        guard let opener else {
            throw ChatbotTesterError(
                .invalidConfig, "'\(url)' is a store URL, and no store opener is configured (PipelineComponents.stores; the CLI's builtin() has S3)",
                location: SourceLocation(source: url))
        }
        return try opener(url)
    }

    /// `error` with every mention of the local copy `local` replaced by the remote `url` it came
    /// from, so a bad dataset line reads `s3://bucket/cases.jsonl:12: field 'input'`.
    public static func relabel(_ error: any Error, local: URL, as url: String) -> any Error {
        guard var tester = error as? ChatbotTesterError else { return error }
        tester.message = tester.message.replacingOccurrences(of: local.path, with: url)
        if tester.location?.source == local.path { tester.location?.source = url }
        return tester
    }
}
