import ChatbotTesterCore
import Foundation

/// The report parts of the records a worker journaled, kept in a file of its private state
/// directory until the run's end (protocol 12): a `writeLines` order that asks for the reports'
/// pieces reads them back in dataset order (`WorkerLinePlaces`), so the parts never wait in memory
/// and the coordinator reads none. Appended through a buffer of a megabyte; the file is made
/// fresh (`O_EXCL`, 0600) and removed when the spill ends.
final class WorkerPartSpill: @unchecked Sendable {
    private let fd: Int32
    let path: String
    private let lock = NSLock()
    private var buffer: [UInt8] = []
    /// Bytes appended, the buffered ones included.
    private var size = 0
    /// Bytes written to the file.
    private var written = 0
    /// Why the spill stopped keeping parts (a write that failed); nil while it keeps them.
    private var failure: String?

    /// Makes the spill's file in `directory` (the worker's private state directory).
    init(in directory: URL) throws {
        let path = directory.appendingPathComponent("report-parts-\(UUID().uuidString.lowercased())").path
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ChatbotTesterError(.io, "cannot make \(path): \(String(cString: strerror(errno)))", location: SourceLocation(source: path))
        }
        self.fd = fd
        self.path = path
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Appends `part`; where it starts in the file.
    func append(_ part: UnsafeRawBufferPointer) -> UInt64 {
        lock.withLock {
            let at = UInt64(size)
            buffer.append(contentsOf: part)
            size += part.count
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
        guard failure == nil else { return buffer.removeAll(keepingCapacity: true) }
        var done = 0
        while done < buffer.count {
            let wrote = buffer.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(written + done)) }
            if wrote < 0, errno == EINTR { continue }
            guard wrote > 0 else {
                failure = "cannot write \(path): \(String(cString: strerror(errno)))"
                break
            }
            done += wrote
        }
        written += done
        buffer.removeAll(keepingCapacity: true)
    }
}
