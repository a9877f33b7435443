import Foundation

/// Where runs keep their files: datasets, results, journals, reports.
///
/// Keys are relative paths such as `runs/<run-id>/results.jsonl`. Writes are atomic (a reader sees
/// the old or the new content, never a mix); journals are append-only and durable once `sync`ed.
public protocol ArtifactStore: Sendable {
    /// Writes `data` under `key` atomically, replacing what was there.
    func write(_ data: Data, to key: String) async throws
    /// Reads the whole artifact. Use `lines(of:)` for large ones.
    func read(_ key: String) async throws -> Data
    /// Whether an artifact exists under `key`.
    func exists(_ key: String) async -> Bool
    /// Keys under a prefix, sorted.
    func list(prefix: String) async throws -> [String]
    /// Removes the artifact (no error when absent).
    func delete(_ key: String) async throws
    /// Opens an append-only journal under `key`, creating it when absent.
    func openJournal(_ key: String) async throws -> any ArtifactJournal
    /// Streams the artifact's lines (without the newline) with 1-based line numbers; a final
    /// unterminated line (a torn write) is skipped.
    func lines(of key: String) -> AsyncThrowingStream<(line: Int, text: Substring), any Error>
    /// Writes `data` under `key` only when nothing is there yet, atomically: of two writers racing
    /// for one key exactly one gets `true`. Defaulted (check then write, not atomic); stores that
    /// can do it atomically override it (S3 `If-None-Match: *`, `link(2)` on a file system).
    func createIfAbsent(_ data: Data, at key: String) async throws -> Bool
    /// Writes a local file under `key` atomically without holding it in memory where the store
    /// can (S3 multipart upload). Defaulted: maps the file and calls `write(_:to:)`.
    func write(contentsOf file: URL, to key: String) async throws
    /// Reads `range` (byte offsets, clamped to the artifact's size) of the artifact. Defaulted:
    /// reads the whole artifact and slices it; remote stores fetch only the range.
    func read(_ key: String, range: Range<Int>) async throws -> Data
    /// How many seconds ago the artifact under `key` was last written, by the store's own clock
    /// alone (a file's modification time against a file the store writes now; an object's
    /// `Last-Modified` against the server's `Date`), so the clocks of the host that wrote it and of
    /// the host asking do not enter. `nil` when it is absent or the store cannot say. Defaulted: `nil`.
    func age(of key: String) async throws -> Double?
    /// `age(of:)` of each key, for stores that can answer many at once more cheaply (a file store
    /// writes one probe file per directory instead of one per key). Keys whose age is unknown are
    /// left out. Defaulted: `age(of:)` per key.
    func ages(of keys: [String]) async throws -> [String: Double]
}

extension ArtifactStore {
    public func createIfAbsent(_ data: Data, at key: String) async throws -> Bool {
        if await exists(key) { return false }
        try await write(data, to: key)
        return true
    }

    public func write(contentsOf file: URL, to key: String) async throws {
        let data: Data
        do {
            data = try Data(contentsOf: file, options: .alwaysMapped)
        } catch {
            throw ChatbotTesterError(.io, "cannot read \(file.path)", location: SourceLocation(source: file.path), cause: error)
        }
        try await write(data, to: key)
    }

    public func age(of key: String) async throws -> Double? { nil }

    public func ages(of keys: [String]) async throws -> [String: Double] {
        var ages: [String: Double] = [:]
        for key in keys {
            if let age = try await age(of: key) { ages[key] = age }
        }
        return ages
    }

    public func read(_ key: String, range: Range<Int>) async throws -> Data {
        let data = try await read(key)
        let lower = min(max(0, range.lowerBound), data.count)
        let upper = min(max(lower, range.upperBound), data.count)
        return data.subdata(in: data.startIndex + lower..<data.startIndex + upper)
    }
}

/// An append-only, durable log of lines.
public protocol ArtifactJournal: Sendable {
    /// Appends one line (a newline is added); buffered until `sync`.
    func append(_ line: Data) async throws
    /// Makes everything appended so far durable (fsync).
    func sync() async throws
    /// Syncs and closes.
    func close() async throws
}
