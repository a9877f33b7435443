import ChatbotTesterCore
import Foundation

/// The report parts of the records a worker journaled, kept in a file of their own until the
/// run's end (protocol 12): a `writeLines` order that asks for the reports' pieces reads them back
/// in dataset order (`WorkerLinePlaces`), so the parts never wait in memory and the coordinator
/// reads none. The file lies beside the spool's journal (on the storage sized for the run, not a
/// temporary directory that may be memory) and has no name: made with `O_TMPFILE` (or made and
/// unlinked at once where the file system cannot), so even a worker killed mid-run leaves nothing
/// behind. Appended through a buffer of a megabyte.
final class WorkerPartSpill: @unchecked Sendable {
    /// The open file (read with `pread` through it).
    let fd: Int32
    /// The directory it is in, for messages.
    let path: String
    private let lock = NSLock()
    /// Bytes appended and not written yet (they follow the `written` ones).
    private var buffer: [UInt8] = []
    /// Bytes written to the file.
    private var written = 0
    /// Why the spill stopped keeping parts (a write that failed); nil while it keeps them.
    private var failure: String?

    /// Makes the spill's file in `directory`, readable and writable by this user alone.
    init(in directory: URL) throws {
        var fd = open(directory.path, Self.unnamed | O_RDWR | O_CLOEXEC, 0o600)
        if fd < 0 {
            // A file system without unnamed files: a fresh name, removed at once.
            let named = directory.appendingPathComponent(".report-parts-\(UUID().uuidString.lowercased())").path
            fd = open(named, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 { unlink(named) }
        }
        guard fd >= 0 else {
            throw ChatbotTesterError(
                .io, "cannot make a file for the report parts in \(directory.path): \(String(cString: strerror(errno)))",
                location: SourceLocation(source: directory.path))
        }
        self.fd = fd
        self.path = "the report parts kept in \(directory.path)"
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        close(fd)
    }

    /// Linux's `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`), which Swift does not import (a macro
    /// built of others).
    static let unnamed: Int32 = 0o20000000 | O_DIRECTORY

    /// Appends `part`; where it starts in the file.
    func append(_ part: UnsafeRawBufferPointer) -> UInt64 {
        lock.withLock {
            let at = UInt64(written + buffer.count)
            buffer.append(contentsOf: part)
            if buffer.count >= 1 << 20 { flushLocked() }
            return at
        }
    }

    /// Writes what is buffered; the file's size then, or why the spill cannot be read.
    func flush() -> Result<Int, Failure> {
        lock.withLock {
            flushLocked()
            if let failure { return .failure(Failure(description: failure)) }
            return .success(written)
        }
    }

    /// Why the spill cannot be read.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private func flushLocked() {
        defer { buffer.removeAll(keepingCapacity: true) }
        guard failure == nil else { return }
        if let code = PositionalWrite.write(buffer, to: fd, at: written) {
            failure = "cannot write \(path): \(String(cString: strerror(code)))"
        } else {
            written += buffer.count
        }
    }
}
