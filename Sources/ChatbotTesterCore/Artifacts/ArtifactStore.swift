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
