import Foundation

extension FileHandle {
    /// How `FileHandle.opening(_:for:)` treats what a file already holds.
    public enum WriteStart: Sendable {
        /// Empties the file (a new file otherwise).
        case truncating
        /// Writes after what it holds: every write lands at its end (`O_APPEND`).
        case appending
    }

    /// Opens `url` for writing, creating it (and never anything else) when it is not there.
    ///
    /// One `open(2)`: no temporary file beside it, unlike `FileManager.createFile`, which writes
    /// `.dat.nosync…` and renames it in. A process killed in between left that temporary file in
    /// the output directory, and a directory listed meanwhile showed it. A symbolic link at `url`
    /// is replaced by the new file when truncating (as the rename replaced it: a link planted in a
    /// shared output directory never redirects the write) and followed when appending.
    /// - Parameters:
    ///   - start: whether what the file holds is emptied or appended to.
    ///   - mode: the permissions of a new file (less the umask); when `exactMode`, set on an
    ///     existing file too, umask aside (for private files).
    /// - Throws: `ChatbotTesterError(.io)` naming the path and the system's reason.
    public static func opening(
        _ url: URL, for start: WriteStart, mode: mode_t = 0o644, exactMode: Bool = false
    ) throws -> FileHandle {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (start == .appending ? O_APPEND : O_TRUNC | O_NOFOLLOW)
        var fd = Foundation.open(url.path, flags, mode)
        if fd < 0, errno == ELOOP, start == .truncating, unlink(url.path) == 0 {
            fd = Foundation.open(url.path, flags | O_EXCL, mode)
        }
        guard fd >= 0 else {
            let code = errno
            throw ChatbotTesterError(
                .io, "cannot create \(url.path): \(String(cString: strerror(code)))",
                location: SourceLocation(source: url.path), cause: POSIXError(.init(rawValue: code) ?? .EIO))
        }
        if exactMode, fchmod(fd, mode) != 0 {
            let code = errno
            Foundation.close(fd)
            throw ChatbotTesterError(
                .io, "cannot set the permissions of \(url.path): \(String(cString: strerror(code)))",
                location: SourceLocation(source: url.path), cause: POSIXError(.init(rawValue: code) ?? .EIO))
        }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }
}

extension FileHandle {
    /// Appends the whole file at `source` where this handle writes, the kernel copying it
    /// (`sendfile(2)` between the two files: no trip through this process's memory), or by 64 KiB
    /// reads and writes where the kernel cannot.
    /// - Throws: `ChatbotTesterError(.io)` naming `source`.
    public func append(contentsOf source: URL) throws {
        let input = Foundation.open(source.path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else {
            let code = errno
            throw ChatbotTesterError(
                .io, "cannot read \(source.path): \(String(cString: strerror(code)))", location: SourceLocation(source: source.path),
                cause: POSIXError(.init(rawValue: code) ?? .EIO))
        }
        defer { Foundation.close(input) }
        try append(from: input, path: source.path, range: nil)
    }

    /// Appends bytes `range` of the open file `input` (all of it from its start when nil; `path`
    /// names it in errors) where this handle writes, as `append(contentsOf:)` does.
    /// - Throws: `ChatbotTesterError(.io)` naming `path`, also when the file ends before the range does.
    public func append(from input: Int32, path: String, range: Range<Int>?) throws {
        let output = fileDescriptor
        var offset = off_t(range?.lowerBound ?? 0)
        var left = range?.count ?? Int.max
        var copied = 0
        func failure(_ code: Int32) -> ChatbotTesterError {
            ChatbotTesterError(
                .io, "cannot copy \(path): \(String(cString: strerror(code)))", location: SourceLocation(source: path),
                cause: POSIXError(.init(rawValue: code) ?? .EIO))
        }
        while left > 0 {
            let n = sendfile(output, input, &offset, min(left, 1 << 30))
            if n > 0 {
                copied += n
                left -= n
                continue
            }
            if n == 0 { break }
            let code = errno
            if code == EINTR { continue }
            // Nothing copied yet and the kernel cannot copy between these two: copy by hand.
            if copied == 0, [ENOSYS, EINVAL, EOPNOTSUPP].contains(code) {
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                while left > 0 {
                    let got = chunk.withUnsafeMutableBytes { pread(input, $0.baseAddress!, min(left, $0.count), offset) }
                    if got < 0, errno == EINTR { continue }
                    guard got >= 0 else { throw failure(errno) }
                    if got == 0 { break }
                    do {
                        try write(contentsOf: chunk[0..<got])
                    } catch {
                        throw ChatbotTesterError(.io, "cannot copy \(path)", location: SourceLocation(source: path), cause: error)
                    }
                    offset += off_t(got)
                    left -= got
                }
                break
            }
            throw failure(code)
        }
        if range != nil, left > 0 {
            throw ChatbotTesterError(.io, "cannot copy \(path): it ends before byte \(range!.upperBound)", location: SourceLocation(source: path))
        }
    }
}
