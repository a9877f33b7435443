import ChatbotTesterCore
import Foundation
import Testing

/// One run per output directory: a second lock is refused naming the holder, a released or dead
/// holder's lock never blocks, nested use in one task tree is allowed.
@Suite struct OutputDirectoryLockTests {
    static func directory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)")
    }

    static func busyError(_ body: () throws -> Void) -> ChatbotTesterError? {
        do {
            try body()
            return nil
        } catch {
            return error as? ChatbotTesterError
        }
    }

    @Test func aSecondLockIsRefusedNamingTheHolderUntilTheFirstIsReleased() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let holder = OutputDirectoryLock.Holder(pid: getpid(), host: "host-a", command: "chatbot-tester test", startedAt: Date())
        let first = try OutputDirectoryLock.acquire(directory, holder: holder)
        let named = OutputDirectoryLock.holder(of: directory)
        #expect(named?.pid == holder.pid && named?.host == holder.host && named?.command == holder.command)
        let refused = Self.busyError { _ = try OutputDirectoryLock.acquire(directory) }
        #expect(refused?.code == .busy)
        #expect(refused?.message.contains("pid \(getpid()) on host-a (chatbot-tester test") == true)
        #expect(refused?.location?.source == directory.path)
        first.release()
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent(OutputDirectoryLock.fileName).path))
        #expect(OutputDirectoryLock.holder(of: directory) == nil)
        let second = try OutputDirectoryLock.acquire(directory)
        second.release()
    }

    /// Another process (util-linux `flock`) cannot take the lock we hold, and gets it once we let go.
    @Test func anotherProcessSeesTheLock() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") else { return }
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func otherProcessCanLock() async throws -> Bool {
            let outcome = try await ProcessRunner.run(
                ["/usr/bin/flock", "-n", directory.appendingPathComponent(OutputDirectoryLock.fileName).path, "true"], input: Data(),
                environment: nil, directory: nil, timeoutSeconds: 60)
            return outcome.status == 0 && !outcome.signalled
        }
        let lock = try OutputDirectoryLock.acquire(directory)
        #expect(try await !otherProcessCanLock())
        lock.release()
        #expect(try await otherProcessCanLock())
    }

    /// A lock file left by a process that died (here: a holder record naming a pid that does not
    /// run, no flock on it) does not block the next run, which takes it over.
    @Test func aStaleLockFileOfADeadProcessDoesNotBlock() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let dead = OutputDirectoryLock.Holder(pid: 999_999, host: "gone", command: "chatbot-tester test", startedAt: Date(timeIntervalSince1970: 0))
        try JSONCoding.encoder().encode(dead).write(to: directory.appendingPathComponent(OutputDirectoryLock.fileName))
        #expect(OutputDirectoryLock.holder(of: directory) == nil)
        let lock = try OutputDirectoryLock.acquire(directory)
        #expect(OutputDirectoryLock.holder(of: directory)?.pid == getpid())
        lock.release()
    }

    /// The holder's details are in the file before the file is at the lock path: a reader racing
    /// a holder that takes and drops the lock over and over sees either no holder or the whole
    /// holder, never an empty or partial file (readers no longer wait for the details).
    @Test func aReaderNeverSeesAHolderWithoutItsDetails() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let holder = OutputDirectoryLock.Holder(pid: getpid(), host: "host-a", command: "chatbot-tester test", startedAt: Date())
        let rounds = 2_000
        let churn = Task.detached {
            for _ in 0..<rounds {
                if let lock = try? OutputDirectoryLock.acquire(directory, holder: holder) { lock.release() }
            }
        }
        let seen = await Task.detached { () -> (held: Int, placeholders: Int, busyWithout: Int) in
            var held = 0, placeholders = 0, busyWithout = 0
            for _ in 0..<rounds {
                if let named = OutputDirectoryLock.holder(of: directory) {
                    held += 1
                    if named.pid != holder.pid || named.host != holder.host || named.command != holder.command { placeholders += 1 }
                }
                do {
                    try OutputDirectoryLock.acquire(directory).release()
                } catch let error as ChatbotTesterError where error.code == .busy {
                    if !error.message.contains("pid \(getpid()) on host-a") { busyWithout += 1 }
                } catch {}
            }
            return (held, placeholders, busyWithout)
        }.value
        await churn.value
        #expect(seen.placeholders == 0, "a reader saw a holder without its details")
        #expect(seen.busyWithout == 0, "a busy error did not name the holder")
        // Nothing left behind: no lock file, no temp file.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.isEmpty ?? true)
    }

    /// A stale file of a dead holder that another process is taking over (it holds the stale file's
    /// lock for a moment before its own file replaces it) is not reported as held by the dead one.
    @Test func aTakeoverInProgressIsNotReportedAsTheDeadHolder() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lockPath = directory.appendingPathComponent(OutputDirectoryLock.fileName).path
        let dead = OutputDirectoryLock.Holder(
            pid: 999_999, host: ProcessInfo.processInfo.hostName, command: "chatbot-tester test", startedAt: Date(timeIntervalSince1970: 0))
        try JSONCoding.encoder().encode(dead).write(to: URL(fileURLWithPath: lockPath))
        // Play the taker by hand: lock the stale file, and 30 ms later put a live holder's file over it.
        let staleFD = open(lockPath, O_RDONLY)
        #expect(staleFD >= 0 && flock(staleFD, LOCK_EX | LOCK_NB) == 0)
        let live = OutputDirectoryLock.Holder(pid: getpid(), host: "host-b", command: "chatbot-tester run", startedAt: Date())
        // On a thread of its own: `acquire` blocks its caller while it looks again.
        let swapped = Locked<Int32>(-1)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            usleep(30_000)
            let temp = lockPath + ".taker"
            try? JSONCoding.encoder().encode(live).write(to: URL(fileURLWithPath: temp))
            let fd = open(temp, O_RDONLY)
            flock(fd, LOCK_EX | LOCK_NB)
            rename(temp, lockPath)
            close(staleFD)
            swapped.withLock { $0 = fd }
            done.signal()
        }
        let refused = Self.busyError { _ = try OutputDirectoryLock.acquire(directory) }
        done.wait()
        let liveFD = swapped.withLock { $0 }
        #expect(refused?.code == .busy)
        #expect(refused?.message.contains("pid \(getpid()) on host-b (chatbot-tester run") == true, "\(refused?.message ?? "")")
        #expect(OutputDirectoryLock.holder(of: directory).map { [$0.host, $0.command] } == [live.host, live.command])
        close(liveFD)
        // A process another test spawns at this moment holds a copy of every descriptor of ours
        // (close-on-exec or not) from its clone to its exec: on a loaded machine that is
        // milliseconds, and the flock lives as long as any copy. So: not held once that ends (a
        // child that kept the descriptor past its exec would fail this after 10 s).
        var holder = OutputDirectoryLock.holder(of: directory)
        let deadline = Date().addingTimeInterval(10)
        while holder != nil && Date() < deadline {
            try await Task.sleep(nanoseconds: 5_000_000)
            holder = OutputDirectoryLock.holder(of: directory)
        }
        #expect(holder == nil)
    }

    @Test func withLockIsReentrantInOneTaskTreeAndRefusesOtherTasks() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let nested = try await OutputDirectoryLock.withLock(directory) {
            try await OutputDirectoryLock.withLock(directory) { 42 }
        }
        #expect(nested == 42)
        let refusedElsewhere = try await OutputDirectoryLock.withLock(directory) {
            await Task.detached {
                Self.busyError { _ = try OutputDirectoryLock.acquire(directory) }
            }.value
        }
        #expect(refusedElsewhere?.code == .busy)
        // Released after the body, also when it throws.
        await #expect(throws: ChatbotTesterError.self) {
            try await OutputDirectoryLock.withLock(directory) { throw ChatbotTesterError(.internal, "boom") }
        }
        #expect(OutputDirectoryLock.holder(of: directory) == nil)
    }
}

/// Private state directories: fresh ones are 0700 and unpredictable; given ones are used only when
/// this user owns them and nobody else can enter.
@Suite struct PrivateDirectoryTests {
    @Test func freshDirectoriesArePrivateAndDistinct() throws {
        let a = try PrivateDirectory.makeFresh(prefix: "ct-private")
        let b = try PrivateDirectory.makeFresh(prefix: "ct-private")
        defer {
            try? FileManager.default.removeItem(at: a)
            try? FileManager.default.removeItem(at: b)
        }
        #expect(a != b)
        var info = stat()
        #expect(lstat(a.path, &info) == 0 && info.st_mode & 0o777 == 0o700 && info.st_uid == geteuid())
        #expect(try PrivateDirectory.verifyOrCreate(a) == a)
    }

    @Test func aMissingDirectoryIsCreatedPrivate() throws {
        let parent = try PrivateDirectory.makeFresh(prefix: "ct-private")
        defer { try? FileManager.default.removeItem(at: parent) }
        let url = parent.appendingPathComponent("state")
        try PrivateDirectory.verifyOrCreate(url)
        var info = stat()
        #expect(lstat(url.path, &info) == 0 && info.st_mode & 0o777 == 0o700)
    }

    @Test func foreignOpenOrLinkedDirectoriesAreRefused() throws {
        let parent = try PrivateDirectory.makeFresh(prefix: "ct-private")
        defer { try? FileManager.default.removeItem(at: parent) }
        func refusal(_ url: URL) -> String? {
            do {
                try PrivateDirectory.verifyOrCreate(url)
                return nil
            } catch {
                return (error as? ChatbotTesterError)?.message
            }
        }
        let open = parent.appendingPathComponent("open")
        mkdir(open.path, 0o755)
        chmod(open.path, 0o755)
        #expect(refusal(open)?.contains("mode is 755") == true)
        let link = parent.appendingPathComponent("link")
        let mine = parent.appendingPathComponent("mine")
        mkdir(mine.path, 0o700)
        symlink(mine.path, link.path)
        #expect(refusal(link)?.contains("symbolic link") == true)
        if geteuid() == 0 {
            // Another user's directory, even with the right mode, is never used.
            let foreign = parent.appendingPathComponent("foreign")
            mkdir(foreign.path, 0o700)
            #expect(chown(foreign.path, 65534, 65534) == 0)
            #expect(refusal(foreign)?.contains("owned by uid 65534") == true)
        }
    }

    /// The holder is written as the ISO-8601 strategy wrote it (lock files of earlier builds, and
    /// of other pods on shared storage, read the same), without that strategy's formatter.
    @Test func theHolderReadsAndWritesAsTheISO8601StrategyDid() throws {
        let holder = OutputDirectoryLock.Holder(pid: 42, host: "pod-a", command: "chatbot-tester test", startedAt: Date(timeIntervalSince1970: 1_796_463_000))
        let text = #"{"command":"chatbot-tester test","host":"pod-a","pid":42,"startedAt":"2026-12-05T09:30:00Z"}"#
        #expect(String(decoding: try JSONCoding.encoder().encode(holder), as: UTF8.self) == text)
        #expect(try JSONCoding.decoder().decode(OutputDirectoryLock.Holder.self, from: Data(text.utf8)) == holder)
        // What the strategy's formatter reads and this fast path does not: still read.
        let offset = #"{"command":"c","host":"h","pid":1,"startedAt":"2026-12-05T10:30:00+01:00"}"#
        #expect(try JSONCoding.decoder().decode(OutputDirectoryLock.Holder.self, from: Data(offset.utf8)).startedAt == holder.startedAt)
        let bad = #"{"command":"c","host":"h","pid":1,"startedAt":"yesterday"}"#
        #expect(throws: DecodingError.self) { try JSONCoding.decoder().decode(OutputDirectoryLock.Holder.self, from: Data(bad.utf8)) }
    }
}
