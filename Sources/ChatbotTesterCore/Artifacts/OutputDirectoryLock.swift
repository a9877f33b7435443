import Foundation

/// One run per output directory: an exclusive `flock(2)` on `<directory>/.chatbot-tester.lock`,
/// held while a run writes there. The file names the holder (pid, host, command, start time) so a
/// refused run can say who is in the way.
///
/// The kernel drops the lock when its process exits, however it exits, so a lock file left by a
/// crashed run never blocks the next one. A released lock removes its file.
///
/// ```swift
/// try await OutputDirectoryLock.withLock(outputDirectory) {
///     try await runTheJob()          // a second run on `outputDirectory` is refused meanwhile
/// }
/// ```
/// `withLock` is re-entrant within one task tree (a `test` that calls `run` takes it once);
/// anything else — another process, or another task of this process — is refused.
public final class OutputDirectoryLock: @unchecked Sendable {
    /// The lock file's name inside the output directory.
    public static let fileName = ".chatbot-tester.lock"

    /// Who holds a lock, as written in the lock file.
    public struct Holder: Sendable, Hashable, Codable, CustomStringConvertible {
        public var pid: Int32
        public var host: String
        /// The program and its verb (`chatbot-tester test`); never the other arguments.
        public var command: String
        public var startedAt: Date

        public init(pid: Int32, host: String, command: String, startedAt: Date) {
            self.pid = pid
            self.host = host
            self.command = command
            self.startedAt = startedAt
        }

        public var description: String { "pid \(pid) on \(host) (\(command), since \(ISO8601DateFormatter().string(from: startedAt)))" }

        /// This process.
        public static var current: Holder {
            let arguments = CommandLine.arguments
            var command = arguments.first.map { ($0 as NSString).lastPathComponent } ?? "chatbot-tester"
            if arguments.count > 1, !arguments[1].hasPrefix("-") { command += " " + arguments[1] }
            return Holder(pid: getpid(), host: ProcessInfo.processInfo.hostName, command: command, startedAt: Date())
        }
    }

    /// The locked directory.
    public let directory: URL
    private let lockFile: URL
    private let state = Locked<Int32>(-1)

    private init(directory: URL, lockFile: URL, fd: Int32) {
        self.directory = directory
        self.lockFile = lockFile
        state.withLock { $0 = fd }
    }

    deinit {
        release()
    }

    /// Takes the lock on `directory` (created when missing).
    ///
    /// - Throws: `.busy` naming the holder when another run holds it, `.io` when the directory or
    ///   the lock file cannot be used.
    public static func acquire(_ directory: URL, holder: Holder = .current) throws -> OutputDirectoryLock {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ChatbotTesterError(.io, "cannot create the output directory", location: SourceLocation(source: directory.path), cause: error)
        }
        let lockFile = directory.appendingPathComponent(fileName)
        // A releasing holder unlinks the file: retry when we locked a file no longer at the path.
        for _ in 0..<16 {
            let fd = open(lockFile.path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard fd >= 0 else {
                throw ChatbotTesterError(
                    .io, "cannot open the lock file: \(String(cString: strerror(errno)))", location: SourceLocation(source: lockFile.path))
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let failure = errno
                let other = failure == EWOULDBLOCK ? waitForHolder(fd) : nil
                close(fd)
                guard failure == EWOULDBLOCK else {
                    throw ChatbotTesterError(
                        .io, "cannot lock the output directory: \(String(cString: strerror(failure)))", location: SourceLocation(source: lockFile.path))
                }
                throw busy(directory: directory, lockFile: lockFile, holder: other)
            }
            var opened = stat()
            var atPath = stat()
            guard fstat(fd, &opened) == 0, lstat(lockFile.path, &atPath) == 0, opened.st_ino == atPath.st_ino, opened.st_dev == atPath.st_dev else {
                close(fd)
                continue
            }
            let text = (try? JSONCoding.encoder().encode(holder)).map { $0 + Data([0x0A]) } ?? Data()
            let written = ftruncate(fd, 0) == 0 && text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) == $0.count }
            guard written else {
                close(fd)
                throw ChatbotTesterError(.io, "cannot write the lock file", location: SourceLocation(source: lockFile.path))
            }
            return OutputDirectoryLock(directory: directory, lockFile: lockFile, fd: fd)
        }
        throw ChatbotTesterError(.busy, "the output directory's lock keeps changing hands", location: SourceLocation(source: lockFile.path))
    }

    /// The holder named in `directory`'s lock file while a process holds it; `nil` when free.
    public static func holder(of directory: URL) -> Holder? {
        let lockFile = directory.appendingPathComponent(fileName)
        let fd = open(lockFile.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // A shared lock is granted only when nobody holds the exclusive one.
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        return waitForHolder(fd) ?? Holder(pid: 0, host: "?", command: "?", startedAt: Date(timeIntervalSince1970: 0))
    }

    /// The holder's details, giving a process that has just taken the lock up to 200 ms to write
    /// them (it locks the file, then writes).
    private static func waitForHolder(_ fd: Int32) -> Holder? {
        for attempt in 0..<40 {
            if let holder = readHolder(fd) { return holder }
            if attempt < 39 { usleep(5_000) }
        }
        return nil
    }

    /// Removes the lock file and drops the lock (idempotent).
    public func release() {
        let fd = state.withLock { fd -> Int32 in
            defer { fd = -1 }
            return fd
        }
        guard fd >= 0 else { return }
        // Unlink while still holding the lock, so a waiting process re-checks the path.
        unlink(lockFile.path)
        close(fd)
    }

    @TaskLocal private static var held: Set<String> = []

    /// Runs `body` holding `directory`'s lock, released when `body` returns or throws. Nested
    /// calls for the same directory in the same task tree reuse the lock.
    ///
    /// - Throws: what `acquire` throws, and what `body` throws.
    public static func withLock<T>(
        _ directory: URL, holder: Holder = .current, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
    ) async throws -> T {
        let key = directory.standardizedFileURL.path
        if held.contains(key) { return try await body() }
        let lock = try acquire(directory, holder: holder)
        defer { lock.release() }
        return try await $held.withValue(held.union([key])) {
            try await body()
        }
    }

    private static func readHolder(_ fd: Int32) -> Holder? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return try? JSONCoding.decoder().decode(Holder.self, from: Data(buffer[0..<count]))
    }

    private static func busy(directory: URL, lockFile: URL, holder: Holder?) -> ChatbotTesterError {
        let who = holder.map { "\($0)" } ?? "another process"
        return ChatbotTesterError(
            .busy, "another run is using this output directory: \(who); wait for it to finish or choose another --out",
            location: SourceLocation(source: directory.path))
    }
}
