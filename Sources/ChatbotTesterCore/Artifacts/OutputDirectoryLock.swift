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

        public var description: String { "pid \(pid) on \(host) (\(command), since \(startedAt.iso8601String))" }

        private enum CodingKeys: String, CodingKey {
            case pid, host, command, startedAt
        }

        /// The date is read and written as `JSONCoding`'s ISO-8601 strategy does (`2026-12-05T09:30:00Z`),
        /// without that strategy's formatter: making one loads ICU's time zone data, about 8 ms of
        /// CPU at the start of every command that takes the lock (a `perf record` of a 100-case
        /// sharded `test` put 154 of the coordinator's 2,043 samples there).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            pid = try container.decode(Int32.self, forKey: .pid)
            host = try container.decode(String.self, forKey: .host)
            command = try container.decode(String.self, forKey: .command)
            let text = try container.decode(String.self, forKey: .startedAt)
            guard let date = JSONCoding.fastDate(text) ?? ISO8601DateFormatter().date(from: text) else {
                throw DecodingError.dataCorruptedError(forKey: .startedAt, in: container, debugDescription: "not an ISO 8601 date: \(text.prefix(64))")
            }
            startedAt = date
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(pid, forKey: .pid)
            try container.encode(host, forKey: .host)
            try container.encode(command, forKey: .command)
            try container.encode(startedAt.iso8601String, forKey: .startedAt)
        }

        /// Whether this names a process of this host that no longer runs.
        var isDeadHereAndNow: Bool {
            guard pid > 0, host == ProcessInfo.processInfo.hostName else { return false }
            return kill(pid, 0) != 0 && errno == ESRCH
        }

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
        let details = (try? JSONCoding.encoder().encode(holder)).map { $0 + Data([0x0A]) } ?? Data()
        // The holder's details are written to a private file, locked, and only then put at the lock
        // path (link when the path is free, rename over a dead holder's file): a reader that finds
        // the lock held always finds its holder's details, never an empty file.
        //
        // A holder that takes and drops the lock in a tight loop can make the path present at
        // `link` and absent at `inspect` several times running (16 in a row happened once on a
        // loaded CI machine): look again, yielding the processor after the first few tries, for a
        // bounded number of rounds (about a second at most).
        for attempt in 0..<1_000 {
            if attempt >= 16 { usleep(1_000) }
            let (temp, fd) = try lockedTempFile(beside: lockFile, details: details)
            if link(temp, lockFile.path) == 0 {
                unlink(temp)
                return OutputDirectoryLock(directory: directory, lockFile: lockFile, fd: fd)
            }
            let failure = errno
            guard failure == EEXIST else {
                unlink(temp)
                close(fd)
                if failure == ENOENT { continue }  // the temp file went (a fresh run cleared the directory)
                throw ChatbotTesterError(
                    .io, "cannot create the lock file: \(String(cString: strerror(failure)))", location: SourceLocation(source: lockFile.path))
            }
            switch inspect(lockFile) {
            case .held(let other):
                unlink(temp)
                close(fd)
                throw busy(directory: directory, lockFile: lockFile, holder: other)
            case .gone:
                unlink(temp)
                close(fd)
            case .stale(let oldFD):
                // A dead holder's file, locked by us so nobody else takes it over meanwhile: ours
                // replaces it in one step.
                let renamed = rename(temp, lockFile.path) == 0
                let renameError = errno
                close(oldFD)
                if renamed { return OutputDirectoryLock(directory: directory, lockFile: lockFile, fd: fd) }
                unlink(temp)
                close(fd)
                throw ChatbotTesterError(
                    .io, "cannot replace a stale lock file: \(String(cString: strerror(renameError)))", location: SourceLocation(source: lockFile.path))
            }
        }
        throw ChatbotTesterError(.busy, "the output directory's lock keeps changing hands", location: SourceLocation(source: lockFile.path))
    }

    /// A new file beside the lock file holding `details`, exclusively locked (uncontended: nobody
    /// else knows its name).
    private static func lockedTempFile(beside lockFile: URL, details: Data) throws -> (String, Int32) {
        let temp = lockFile.path + ".\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            throw ChatbotTesterError(
                .io, "cannot create the lock file: \(String(cString: strerror(errno)))", location: SourceLocation(source: lockFile.path))
        }
        let written = details.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) == $0.count }
        guard written, flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            unlink(temp)
            close(fd)
            throw ChatbotTesterError(.io, "cannot write the lock file", location: SourceLocation(source: lockFile.path))
        }
        return (temp, fd)
    }

    /// What is at the lock path.
    private enum Found {
        /// A live holder (its details when they can be read).
        case held(Holder?)
        /// A file nobody holds (its holder died), now locked by us through this descriptor.
        case stale(Int32)
        /// Nothing, or the file changed under us: look again.
        case gone
    }

    private static func inspect(_ lockFile: URL) -> Found {
        // A held file names a dead process only while another process replaces that stale file
        // (it locks it first, then renames its own over it): look again until the swap is done.
        for attempt in 0..<200 {
            let fd = open(lockFile.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { return .gone }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                guard isAtPath(fd, lockFile) else {
                    close(fd)
                    return .gone
                }
                return .stale(fd)
            }
            let holder = readHolder(fd)
            let current = isAtPath(fd, lockFile)
            close(fd)
            guard current else { return .gone }
            if let holder, holder.isDeadHereAndNow, attempt < 199 {
                usleep(1_000)
                continue
            }
            return .held(holder)
        }
        return .held(nil)
    }

    /// Whether `fd` is the file at `lockFile` (a releasing holder unlinks it; a replaced one is gone).
    private static func isAtPath(_ fd: Int32, _ lockFile: URL) -> Bool {
        var opened = stat()
        var atPath = stat()
        return fstat(fd, &opened) == 0 && lstat(lockFile.path, &atPath) == 0 && opened.st_ino == atPath.st_ino
            && opened.st_dev == atPath.st_dev
    }

    /// The holder named in `directory`'s lock file while a process holds it; `nil` when free.
    public static func holder(of directory: URL) -> Holder? {
        let lockFile = directory.appendingPathComponent(fileName)
        for _ in 0..<16 {
            let fd = open(lockFile.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { return nil }
            // A shared lock is granted only when nobody holds the exclusive one.
            let free = flock(fd, LOCK_SH | LOCK_NB) == 0
            close(fd)
            if free { return nil }
            switch inspect(lockFile) {
            case .held(let holder): return holder ?? Holder(pid: 0, host: "?", command: "?", startedAt: Date(timeIntervalSince1970: 0))
            case .stale(let fd):
                close(fd)
                return nil
            case .gone: continue
            }
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
