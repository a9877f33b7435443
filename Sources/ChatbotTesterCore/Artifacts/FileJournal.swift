import Foundation

/// The durable journal every run writes: an append-only file of lines, shared by the Runner's
/// `RunJournal` (through `FileArtifactStore.openJournal`) and the cluster coordinator's spool
/// journal.
///
/// Lines are raw bytes (the caller's JSON, written as given, so a coordinator can journal a record
/// as it was received). Appends are buffered in memory and written out when the buffer passes
/// `flushThreshold` or on sync, which also fsyncs: a line is durable once a sync after it
/// returned. Opening cuts a torn last line (no trailing newline) left by a crash, so new lines
/// never glue onto a partial one. A failed write is rolled back to the last complete line.
///
/// Two faces over one implementation: the `ArtifactJournal` methods (`append`, `sync`, `close`,
/// async; `sync` and `close` run on the journal's own dispatch queue, off the cooperative pool)
/// and their synchronous forms (`appendNow`, `syncNow`, `closeNow`) for an actor that must
/// count a record and buffer it without suspending in between.
///
/// ```swift
/// let journal = try FileJournal(url: spool.appendingPathComponent("journal.jsonl"), mode: 0o600)
/// try journal.appendNow(recordBytes)
/// try journal.syncNow()   // durable from here
/// ```
public final class FileJournal: ArtifactJournal, @unchecked Sendable {
    private let fd: Int32
    /// Guards `pending`, `spare` and `closed` (held briefly: appends never wait for a write).
    private let lock = NSLock()
    /// Serializes writes and fsyncs of the file, in append order.
    private let writeLock = NSLock()
    private let queue = DispatchQueue(label: "chatbot-tester.journal-sync")
    private var pending: [UInt8] = []
    /// The buffer last written out, emptied with its capacity kept: the next lines go into it, so
    /// a busy journal reuses two buffers instead of growing (and faulting in) a fresh one per write.
    private var spare: [UInt8] = []
    private var closed = false
    private let flushThreshold: Int
    public let url: URL
    /// Start each write with a newline: set when other processes append to the same file (a
    /// cluster's workers writing their records themselves), so that a piece a writer killed in
    /// the middle of its write left ends there instead of swallowing this write's first line.
    /// Readers skip the empty lines this leaves.
    public var separatesWrites: Bool {
        get { lock.withLock { separating } }
        set { lock.withLock { separating = newValue } }
    }
    private var separating = false
    /// Writes a buffer whole (`writeAll`); tests put a failing writer here.
    var writeBuffer: @Sendable (Int32, UnsafeRawBufferPointer) -> Bool = { FileJournal.writeAll($0, $1) }

    /// Opens (creating when needed) the journal and cuts a torn last line.
    /// - Parameters:
    ///   - flushThreshold: buffered bytes that trigger a write (without fsync).
    ///   - mode: permissions of a newly created file.
    public init(url: URL, flushThreshold: Int = 1 << 20, mode: mode_t = 0o644) throws {
        self.url = url
        self.flushThreshold = flushThreshold
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw ChatbotTesterError(.io, "cannot create \(url.deletingLastPathComponent().path)", location: SourceLocation(source: url.path), cause: error)
        }
        let fd = open(url.path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw ChatbotTesterError(
                .io, "cannot open journal \(url.path)", location: SourceLocation(source: url.path),
                cause: POSIXError(.init(rawValue: errno) ?? .EIO))
        }
        self.fd = fd
        do {
            try FileJournal.truncateTornTail(fd: fd, path: url.path)
        } catch {
            Foundation.close(fd)
            throw error
        }
    }

    deinit {
        if !closed { Foundation.close(fd) }
    }

    /// The length of the file without a torn last line: just after its last newline, or 0.
    static func completeLength(fd: Int32) -> off_t {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return 0 }
        var end = size
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while end > 0 {
            let start = max(0, end - off_t(chunk.count))
            let count = Int(end - start)
            let read = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, count, start) }
            guard read == count else { return end }
            if let index = chunk[0..<count].lastIndex(of: 0x0A) { return start + off_t(index) + 1 }
            end = start
        }
        return 0
    }

    private static func truncateTornTail(fd: Int32, path: String) throws {
        let size = lseek(fd, 0, SEEK_END)
        let keep = completeLength(fd: fd)
        guard keep != size else { return }
        guard ftruncate(fd, keep) == 0, fsync(fd) == 0 else {
            throw ChatbotTesterError(.io, "cannot cut the torn last line of \(path)", location: SourceLocation(source: path))
        }
    }

    /// Writes every byte to `fd`, retrying short writes and EINTR; `false` on an error.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < buffer.count {
            let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// The bytes at `range` of the file (file offsets), read with `pread`: lines another process
    /// appended to the same file (a cluster worker writing its records itself) are read back this
    /// way. Lines still buffered here are not in the file yet.
    /// - Throws: `.io` when the file is shorter than `range` or cannot be read.
    public func read(_ range: Range<Int>) throws -> Data {
        guard range.lowerBound >= 0, !range.isEmpty else { throw ChatbotTesterError(.io, "cannot read \(url.path) at \(range)") }
        // Not zeroed first: every byte is read into it, or the buffer is dropped.
        guard let buffer = malloc(range.count) else { throw ChatbotTesterError(.io, "cannot allocate \(range.count) bytes to read \(url.path)") }
        var read = 0
        while read < range.count {
            let n = pread(fd, buffer + read, range.count - read, off_t(range.lowerBound + read))
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            read += n
        }
        if read == range.count { return Data(bytesNoCopy: buffer, count: read, deallocator: .free) }
        free(buffer)
        throw ChatbotTesterError(
            .io, "\(url.path) holds \(range.lowerBound + read) bytes, fewer than the \(range.upperBound) asked for",
            location: SourceLocation(source: url.path))
    }

    /// The file's device and inode numbers (`fstat`): what tells another process that a path it
    /// opened is this very file.
    public func fileIdentity() throws -> (device: UInt64, inode: UInt64) {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ChatbotTesterError(.io, "cannot stat \(url.path)", location: SourceLocation(source: url.path)) }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// Whether appended lines wait for a sync.
    public var hasPendingLines: Bool {
        lock.withLock { !pending.isEmpty }
    }

    /// Appends one line (a newline is added); buffered until a sync or the flush threshold. Never
    /// waits for a sync under way: past the threshold it writes only when no sync is writing.
    public func appendNow(_ line: Data) throws {
        try appendLine { Self.append(line, to: &$0) }
    }

    /// Appends one line given in three pieces, copied one after the other into the write buffer
    /// (a newline is added): a line assembled from parts of other buffers is copied once, not
    /// built first. Otherwise as `appendNow(_:)`.
    public func appendNow(_ head: Data, _ middle: Data, _ tail: Data) throws {
        try appendLine {
            Self.append(head, to: &$0)
            Self.append(middle, to: &$0)
            Self.append(tail, to: &$0)
        }
    }

    /// Copies `data`'s bytes to the end of `buffer`.
    private static func append(_ data: Data, to buffer: inout [UInt8]) {
        data.withUnsafeBytes { buffer.append(contentsOf: $0.bindMemory(to: UInt8.self)) }
    }

    /// Puts a line's bytes in the buffer with `fill`, then its newline; writes past the threshold.
    private func appendLine(_ fill: (inout [UInt8]) -> Void) throws {
        let full = try lock.withLock {
            guard !closed else { throw ChatbotTesterError(.io, "journal \(url.path) is closed") }
            // The buffer goes out whole in one write: its first byte starts that write.
            if separating && pending.isEmpty { pending.append(0x0A) }
            fill(&pending)
            pending.append(0x0A)
            return pending.count >= flushThreshold
        }
        guard full, writeLock.try() else { return }
        defer { writeLock.unlock() }
        try writePending()
    }

    /// Writes the buffered lines and fsyncs: everything appended so far is durable.
    public func syncNow() throws {
        try writeLock.withLock {
            guard !lock.withLock({ closed }) else { throw ChatbotTesterError(.io, "journal \(url.path) is closed") }
            try writePending()
            try fsyncFile()
        }
    }

    /// Syncs and closes (closing twice is a no-op).
    public func closeNow() throws {
        try writeLock.withLock {
            let wasClosed = lock.withLock {
                defer { closed = true }
                return closed
            }
            guard !wasClosed else { return }
            defer { Foundation.close(fd) }
            try writePending()
            try fsyncFile()
        }
    }

    public func append(_ line: Data) async throws {
        try appendNow(line)
    }

    /// `syncNow` on the journal's own queue, off Swift's cooperative thread pool (an fsync can
    /// take milliseconds); appends made meanwhile are buffered and keep their order.
    public func sync() async throws {
        try await offPool { try self.syncNow() }
    }

    /// `closeNow` on the journal's own queue, off the cooperative pool.
    public func close() async throws {
        try await offPool { try self.closeNow() }
    }

    private func offPool(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await BlockingIO.run(on: queue, body)
    }

    /// Writes out what is buffered (under `writeLock`); a failed write is rolled back and its
    /// lines stay buffered, ahead of any appended since.
    private func writePending() throws {
        var chunk: [UInt8] = lock.withLock {
            var taken = spare
            swap(&taken, &pending)
            spare = []
            return taken
        }
        if !chunk.isEmpty {
            // Where the file ended, for a roll-back: only a journal of its own is rolled back.
            let shared = lock.withLock { separating }
            let before = shared ? -1 : lseek(fd, 0, SEEK_END)
            let write = writeBuffer
            let ok = chunk.withUnsafeBytes { write(fd, $0) }
            guard ok else {
                // Roll back a partial write so the file still ends at a complete line — unless
                // other processes append to it too: what they appended since `before` would go
                // with it. There the piece stays, ended by the newline the next write starts with
                // (a damaged line readers skip), and the lines written whole before the failure
                // are written again, duplicates the record-key rule reads as one.
                if before >= 0 { ftruncate(fd, before) }
                lock.withLock { pending = chunk + pending }
                throw ChatbotTesterError(.io, "cannot append to \(url.path)", location: SourceLocation(source: url.path))
            }
        }
        // Kept for the next lines, unless a stall made it much larger than a write's worth.
        guard chunk.capacity <= 4 * max(flushThreshold, 1 << 16) else { return }
        chunk.removeAll(keepingCapacity: true)
        lock.withLock { if spare.capacity < chunk.capacity { spare = chunk } }
    }

    private func fsyncFile() throws {
        guard fsync(fd) == 0 else { throw ChatbotTesterError(.io, "fsync failed for \(url.path)", location: SourceLocation(source: url.path)) }
    }
}
