import CLibUV
import ChatbotTesterCluster
import ChatbotTesterClusterUV
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// The libuv transport over real Unix sockets: security, framing violations, back-pressure.
@Suite(.serialized) struct TransportTests {
    @Test func socketIsPrivateAndPathsAreChecked() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        try await UVLoop.withLoop { loop in
            let listener = try await UVPipeListener.listen(path: path, loop: loop)
            var info = stat()
            #expect(lstat(path, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            // A second coordinator on a live socket is refused.
            await #expect(throws: ChatbotTesterError.self) { _ = try await UVPipeListener.listen(path: path, loop: loop) }
            listener.close()
            #expect(await listener.accept() == nil)
        }
        // Closing removes the socket file.
        #expect(!FileManager.default.fileExists(atPath: path))
        // Too long for sun_path.
        let long = directory.path + "/" + String(repeating: "x", count: 120) + ".sock"
        #expect(throws: ChatbotTesterError.self) { try UVSocketPath.prepareForListening(long) }
        // A group/world-accessible directory, a symlinked directory, a non-socket file.
        let open = directory.appendingPathComponent("open")
        mkdir(open.path, 0o755)
        chmod(open.path, 0o755)
        #expect(throws: ChatbotTesterError.self) { try UVSocketPath.prepareForListening(open.path + "/c.sock") }
        let link = directory.appendingPathComponent("link")
        let real = directory.appendingPathComponent("real")
        mkdir(real.path, 0o700)
        symlink(real.path, link.path)
        #expect(throws: ChatbotTesterError.self) { try UVSocketPath.prepareForListening(link.path + "/c.sock") }
        #expect(FileManager.default.createFile(atPath: real.path + "/c.sock", contents: Data("x".utf8)))
        #expect(throws: ChatbotTesterError.self) { try UVSocketPath.prepareForListening(real.path + "/c.sock") }
        // A missing directory is created 0700.
        try UVSocketPath.prepareForListening(directory.path + "/new/c.sock")
        try UVSocketPath.verifyPrivateDirectory(directory.path + "/new")
    }

    @Test func sameUidPolicy() {
        #expect(UVSocketPath.allowsPeer(ownUid: 1000, peerUid: 1000))
        #expect(!UVSocketPath.allowsPeer(ownUid: 1000, peerUid: 1001))
        #expect(!UVSocketPath.allowsPeer(ownUid: 0, peerUid: 65534))
    }

    @Test func peerWithAnotherUidIsRefused() async throws {
        guard geteuid() == 0 else { return }  // needs root to become another user
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let host = ClusterTestSupport.hostPath
        let refusals = Locked<[String]>([])
        try await withTimeout(60) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop) { reason in refusals.withLock { $0.append(reason) } }
                // Loosen the file modes (test only) so the other user reaches the socket at all:
                // what must stop it now is the SO_PEERCRED check.
                chmod(directory.path, 0o711)
                chmod(path, 0o666)
                let intruder = try await UVProcess.spawn(executable: host, arguments: ["connect-as", "--uid", "65534", "--connect", path], loop: loop)
                let end = await intruder.waitForExit()
                #expect(end.status == 0, "the intruder was welcomed or failed (status \(end.status))")
                #expect(listener.refusedCount == 1)
                // Our own uid still gets in.
                let friend = try await UVPipeConnection.connect(path: path, loop: loop)
                let accepted = await listener.accept()
                #expect(accepted != nil)
                friend.close(reason: nil)
                accepted?.close(reason: nil)
                listener.close()
            }
        }
        #expect(refusals.current.count == 1)
        #expect(refusals.current.first?.contains("uid 65534") == true)
    }

    @Test func garbageAndOversizedFramesCloseOnlyThatConnection() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let samples = ClusterTestSupport.samples(20)
        let spool = try ClusterSpool.prepare(at: directory.appendingPathComponent("spool"), samples: samples, setup: ClusterTestSupport.setup(), samplesPerShard: 5)
        let host = ClusterTestSupport.hostPath
        let sink = RecordingClusterSink()
        let events = EventBus()
        events.subscribe(sink)
        let stats = try await withTimeout(90) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop, options: .init(maxFrameSize: 64 << 10))
                let coordinator = Task { try await ClusterCoordinator.run(spool: spool, listener: listener, events: events) }
                // Garbage: a well-framed payload that is not a message.
                let garbage = try await UVPipeConnection.connect(path: path, loop: loop)
                garbage.enqueue([Data("definitely not json".utf8)])
                #expect(await garbage.receive() == nil)
                // Oversized: a frame above the coordinator's 64 KiB cap.
                let big = try await UVPipeConnection.connect(path: path, loop: loop)
                big.enqueue([Data(repeating: 0x20, count: 100 << 10)])
                #expect(await big.receive() == nil)
                // Out of order: records before hello.
                let rude = try await UVPipeConnection.connect(path: path, loop: loop)
                rude.enqueue([try ClusterMessageCodec().encode(.records([]))])
                #expect(await rude.receive() == nil)
                // A protocol-6 records frame whose record runs past the frame's end, from a
                // worker past its hello (the samples it was given go to the next worker).
                let forger = try await UVPipeConnection.connect(path: path, loop: loop)
                forger.enqueue([try ClusterMessageCodec().encode(.hello(.init(workerId: "forger", pid: 1)))])
                var broken = Data([0, UInt8(ascii: "R")])
                for value: UInt32 in [1, 0, 1000, 0] { ByteCoding.append(value, to: &broken) }
                broken.append(contentsOf: Array(#"{"evals":[]"#.utf8))
                forger.enqueue([broken])
                var received = 0
                while await forger.receive() != nil, received < 100 { received += 1 }
                #expect(received >= 1 && received < 100)
                // The coordinator lives on: a real worker completes the run.
                let worker = try await UVProcess.spawn(executable: host, arguments: ["worker", "--connect", path], loop: loop)
                let stats = try await coordinator.value
                _ = await worker.waitForExit()
                listener.close()
                return stats
            }
        }
        await events.shutdown()
        #expect(stats.total == 20)
        #expect(try spool.mergedRecords().count == 20)
        let reasons = sink.events.current.compactMap { if case .connectionClosed(_, let reason) = $0 { reason } else { nil } }
        #expect(reasons.count == 4, "\(reasons)")
        #expect(reasons.contains { $0.contains("malformed frame") })
        #expect(reasons.contains { $0.contains("runs past the frame's end") })
        #expect(reasons.contains { $0.contains("exceeds the maximum") })
        #expect(reasons.contains { $0.contains("expected hello") })
    }

    @Test func backPressurePausesReadingAndLosesNothing() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let count = 20_000
        try await withTimeout(120) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop, options: .init(highWatermark: 16, lowWatermark: 4))
                let client = try await UVPipeConnection.connect(
                    path: path, loop: loop, options: .init(writeHighWatermark: 64 << 10, writeLowWatermark: 16 << 10))
                guard let server = await listener.accept() else { Issue.record("no connection"); return }
                // The writer runs far ahead of a reader that has not started: it must suspend, not buffer without bound.
                let writer = Task {
                    for index in 0..<count {
                        var payload = Data(repeating: 0x2E, count: 256)
                        withUnsafeBytes(of: UInt32(index).bigEndian) { payload.replaceSubrange(0..<4, with: $0) }
                        await client.send(payload)
                    }
                }
                var received = 0
                var inOrder = true
                while received < count, let frame = await server.receive() {
                    let index = frame.prefix(4).reduce(0) { $0 << 8 | Int($1) }
                    if index != received { inOrder = false }
                    received += 1
                }
                await writer.value
                #expect(received == count)
                #expect(inOrder)
                client.close(reason: nil)
                #expect(await server.receive() == nil)
                listener.close()
            }
        }
    }
    /// Frames enqueued by tasks are written from the enqueuing thread: the loop thread is not
    /// woken per frame (only to read, and for what the socket does not take at once).
    @Test func framesEnqueuedOffTheLoopAreWrittenWithoutWakingIt() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let count = 2000
        try await withTimeout(60) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let client = try await UVPipeConnection.connect(path: path, loop: loop)
                guard let server = await listener.accept() else { Issue.record("no connection"); return }
                let before = loop.executedJobCount
                // One frame at a time, each answered before the next: every write finds the socket empty.
                for index in 0..<count {
                    client.enqueue([Data("frame \(index)".utf8)])
                    let frame = await server.receive()
                    #expect(frame == Data("frame \(index)".utf8))
                }
                let handedOver = loop.executedJobCount - before
                #expect(handedOver < count / 10, "\(handedOver) hand-overs to the loop for \(count) frames")
                client.close(reason: nil)
                #expect(await server.receive() == nil)
                listener.close()
            }
        }
    }

    /// The loop as a task executor: a task preferring it runs on the loop thread, a frame read
    /// resumes it there, and its answers leave from there; no frame is handed over from another
    /// thread. Once the loop is shut down, a task preferring it still runs (on the pool).
    @Test func aTaskPreferringTheLoopReadsAndAnswersOnTheLoopThread() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let count = 500
        let kept = Locked<UVLoop?>(nil)
        try await withTimeout(60) {
            try await UVLoop.withLoop { loop in
                kept.withLock { $0 = loop }
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let client = try await UVPipeConnection.connect(path: path, loop: loop)
                guard let server = await listener.accept() else { Issue.record("no connection"); return }
                // The server side echoes, on the loop.
                let echo = Task(executorPreference: loop) { () -> Int in
                    var offLoop = 0
                    for await frame in server.frames {
                        if !loop.isOnLoopThread { offLoop += 1 }
                        server.enqueue([frame])
                    }
                    return offLoop
                }
                for index in 0..<count {
                    client.enqueue([Data("frame \(index)".utf8)])
                    #expect(await client.receive() == Data("frame \(index)".utf8))
                }
                client.close(reason: nil)
                #expect(await echo.value == 0, "frames handled off the loop thread")
                listener.close()
            }
        }
        // Shut down: a task preferring it runs all the same.
        let loop = try #require(kept.current)
        #expect(await Task(executorPreference: loop) { loop.isOnLoopThread }.value == false)
    }

    /// Many tasks enqueue at once while the peer reads; each sender's frames arrive whole and in
    /// its order, and closing mid-stream neither crashes nor writes after the close.
    @Test func concurrentSendersAndACloseMidStream() async throws {
        let directory = try ClusterTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let senders = 8, perSender = 200
        try await withTimeout(60) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let client = try await UVPipeConnection.connect(path: path, loop: loop)
                guard let server = await listener.accept() else { Issue.record("no connection"); return }
                await withTaskGroup(of: Void.self) { group in
                    for sender in 0..<senders {
                        group.addTask {
                            for index in 0..<perSender {
                                // Sizes from a few bytes to 64 KiB, so some writes are partial.
                                let size = 8 + (index * 7919 + sender * 104_729) % (64 << 10)
                                var payload = Data(repeating: UInt8(sender), count: size)
                                withUnsafeBytes(of: UInt32(index).bigEndian) { payload.replaceSubrange(0..<4, with: $0) }
                                await client.send(payload)
                            }
                        }
                    }
                    var next = Array(repeating: 0, count: senders)
                    var whole = true
                    for _ in 0..<(senders * perSender) {
                        guard let frame = await server.receive() else { break }
                        let sender = Int(frame.last!)
                        let index = frame.prefix(4).reduce(0) { $0 << 8 | Int($1) }
                        if index != next[sender] || frame.dropFirst(4).contains(where: { $0 != UInt8(sender) }) { whole = false }
                        next[sender] += 1
                    }
                    await group.waitForAll()
                    #expect(whole)
                    #expect(next == Array(repeating: perSender, count: senders))
                }
                // A close while tasks still enqueue: their frames are dropped, nothing crashes.
                let late = Task {
                    for index in 0..<2000 { client.enqueue([Data(repeating: UInt8(index % 251), count: 4096)]) }
                }
                client.close(reason: "closed by the test")
                await late.value
                while await server.receive() != nil {}
                #expect(client.closeReason == "closed by the test")
                listener.close()
            }
        }
    }
}
