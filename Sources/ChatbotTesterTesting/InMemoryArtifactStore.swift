import ChatbotTesterCore
import Foundation

/// An `ArtifactStore` in memory, for tests (and users' own).
///
/// Journals keep what was `sync`ed apart from what was only appended, and `simulateCrash()` drops
/// the unsynced part of every journal — so crash-recovery code can be tested without killing a
/// process. A journal's artifact reads back only its synced lines.
public final class InMemoryArtifactStore: ArtifactStore {
    private struct State {
        var files: [String: Data] = [:]
        var journals: [String: JournalState] = [:]
    }

    struct JournalState {
        var pending = Data()
        var closed = false
    }

    private let state = Locked(State())

    public init(files: [String: Data] = [:]) {
        state.withLock { $0.files = files }
    }

    /// Every artifact's content (journals: synced lines only).
    public var contents: [String: Data] { state.withLock { $0.files } }

    /// Drops every journal's unsynced appends and closes the journals, as a crash would.
    public func simulateCrash() {
        state.withLock { s in
            for key in s.journals.keys {
                s.journals[key]?.pending.removeAll()
                s.journals[key]?.closed = true
            }
            s.journals.removeAll()
        }
    }

    private func checkKey(_ key: String) throws {
        let parts = key.split(separator: "/")
        guard !key.isEmpty, !key.hasPrefix("/"), !parts.contains(".."), !parts.isEmpty else {
            throw ChatbotTesterError(.io, "invalid artifact key '\(key)'")
        }
    }

    public func write(_ data: Data, to key: String) async throws {
        try checkKey(key)
        state.withLock { $0.files[key] = data }
    }

    public func read(_ key: String) async throws -> Data {
        try checkKey(key)
        guard let data = state.withLock({ $0.files[key] }) else {
            throw ChatbotTesterError(.io, "no artifact '\(key)'", location: SourceLocation(source: key))
        }
        return data
    }

    public func exists(_ key: String) async -> Bool {
        state.withLock { $0.files[key] != nil }
    }

    public func list(prefix: String) async throws -> [String] {
        state.withLock { s in s.files.keys.filter { $0.hasPrefix(prefix) }.sorted() }
    }

    public func delete(_ key: String) async throws {
        try checkKey(key)
        state.withLock { _ = $0.files.removeValue(forKey: key) }
    }

    public func openJournal(_ key: String) async throws -> any ArtifactJournal {
        try checkKey(key)
        let id = UUID()
        state.withLock { s in
            var data = s.files[key] ?? Data()
            // Cut a torn last line, as the file store does.
            if let last = data.lastIndex(of: 0x0A) { data = data.prefix(through: last) } else { data = Data() }
            s.files[key] = data
            s.journals["\(key)#\(id)"] = JournalState()
        }
        return Journal(store: self, key: key, handle: "\(key)#\(id)")
    }

    public func lines(of key: String) -> AsyncThrowingStream<(line: Int, text: Substring), any Error> {
        let data = state.withLock { $0.files[key] }
        return AsyncThrowingStream { continuation in
            guard let data else {
                continuation.finish(throwing: ChatbotTesterError(.io, "no artifact '\(key)'", location: SourceLocation(source: key)))
                return
            }
            var splitter = JSONL.LineSplitter()
            for (line, bytes) in splitter.feed(data) {
                continuation.yield((line, Substring(String(decoding: bytes, as: UTF8.self))))
            }
            continuation.finish()
        }
    }

    fileprivate func journalAppend(_ handle: String, _ line: Data) throws {
        try state.withLock { s in
            guard s.journals[handle] != nil else { throw ChatbotTesterError(.io, "journal is closed") }
            s.journals[handle]!.pending.append(line)
            s.journals[handle]!.pending.append(0x0A)
        }
    }

    fileprivate func journalSync(_ handle: String, key: String, close: Bool) throws {
        try state.withLock { s in
            guard let journal = s.journals[handle] else {
                if close { return }
                throw ChatbotTesterError(.io, "journal is closed")
            }
            s.files[key, default: Data()].append(journal.pending)
            s.journals[handle]!.pending.removeAll()
            if close { s.journals[handle] = nil }
        }
    }

    private struct Journal: ArtifactJournal {
        let store: InMemoryArtifactStore
        let key: String
        let handle: String

        func append(_ line: Data) async throws { try store.journalAppend(handle, line) }
        func sync() async throws { try store.journalSync(handle, key: key, close: false) }
        func close() async throws { try store.journalSync(handle, key: key, close: true) }
    }
}
