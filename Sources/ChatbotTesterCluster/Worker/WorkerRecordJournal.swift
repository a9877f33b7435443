import ChatbotTesterCore
import Foundation

/// The spool's journal as a worker appends its records to it (protocol 8): opened from the path
/// `welcome` offers only when that path is the coordinator's very file — a regular file reached
/// without a symbolic link, the device and inode offered, owned by this user and writable by
/// nobody else — and written with `O_APPEND`, one `write(2)` per frame, so the lines of one frame
/// lie together whatever the other writers do; the file offset after the write says where.
final class WorkerRecordJournal: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    /// The journal's path, as offered.
    let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Opens the offered journal; the failure says why it is not used (the worker then sends its
    /// records in frames).
    static func open(_ offer: ClusterMessage.RecordJournal) -> Result<WorkerRecordJournal, ChatbotTesterError> {
        func refused(_ why: String) -> Result<WorkerRecordJournal, ChatbotTesterError> {
            .failure(ChatbotTesterError(.io, "the offered journal is not used: \(why)", location: SourceLocation(source: offer.path)))
        }
        let fd = Foundation.open(offer.path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return refused("cannot open it (\(String(cString: strerror(errno))))") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            return refused("cannot stat it")
        }
        let why: String?
        if (info.st_mode & S_IFMT) != S_IFREG {
            why = "not a regular file"
        } else if UInt64(info.st_dev) != offer.device || UInt64(info.st_ino) != offer.inode {
            why = "another file than the coordinator's (device \(info.st_dev), inode \(info.st_ino))"
        } else if info.st_uid != geteuid() {
            why = "owned by uid \(info.st_uid), not \(geteuid())"
        } else if info.st_mode & 0o022 != 0 {
            why = "writable by others (mode \(String(info.st_mode & 0o777, radix: 8)))"
        } else {
            why = nil
        }
        if let why {
            close(fd)
            return refused(why)
        }
        return .success(WorkerRecordJournal(fd: fd, path: offer.path))
    }

    /// Appends `lines` (each ending in its newline) in one write, after a newline of its own;
    /// returns the file offset of the first line. A short write is an error: the rest could land
    /// after another writer's lines.
    ///
    /// The leading newline ends whatever a writer killed in the middle of its write left (a
    /// `write(2)` interrupted by `SIGKILL` keeps the pages it copied): that piece becomes a line of
    /// its own, which readers skip as damaged (its case was never reported, so it runs again),
    /// instead of swallowing this write's first line. Readers skip the empty lines this leaves.
    func append(_ lines: [Data]) throws -> UInt64 {
        var buffer: [UInt8] = [0x0A]
        buffer.reserveCapacity(1 + lines.reduce(0) { $0 + $1.count })
        for line in lines { line.withUnsafeBytes { buffer.append(contentsOf: $0.bindMemory(to: UInt8.self)) } }
        return try lock.withLock {
            var written = -1
            repeat {
                written = buffer.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
            } while written < 0 && errno == EINTR
            guard written == buffer.count else {
                throw ChatbotTesterError(
                    .io, written < 0 ? "cannot append to the journal: \(String(cString: strerror(errno)))" : "the journal took \(written) of \(buffer.count) bytes",
                    location: SourceLocation(source: path))
            }
            // With O_APPEND the file offset is the end of what this write put there.
            let end = lseek(fd, 0, SEEK_CUR)
            guard end >= off_t(buffer.count) else { throw ChatbotTesterError(.io, "cannot tell where the lines went", location: SourceLocation(source: path)) }
            // Every byte before `end` is written (appends are serialized): the pages this write
            // fills are handed to the disk now, by this worker, so the coordinator's next fsync of
            // the journal does not submit them itself.
            WriteBack.start(fd, appended: (Int(end) - buffer.count)..<Int(end))
            return UInt64(end) - UInt64(buffer.count) + 1
        }
    }
}
