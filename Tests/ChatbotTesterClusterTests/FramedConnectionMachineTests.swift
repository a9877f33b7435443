import ChatbotTesterCluster
import Foundation
import Testing

/// The framed-connection logic without sockets: events in, actions out.
@Suite struct FramedConnectionMachineTests {
    typealias Machine = FramedConnectionMachine

    static func payloads() -> [Data] {
        [Data("hello".utf8), Data(), Data(repeating: 0xAB, count: 300), Data([0]), Data(), Data("{\"type\":\"heartbeat\"}".utf8)]
    }

    static func wire(_ payloads: [Data]) -> Data {
        var wire = Data()
        for payload in payloads { ClusterFrameDecoder.appendFrame(payload, to: &wire) }
        return wire
    }

    /// Takes every queued frame.
    static func drain(_ machine: inout Machine) -> [Data] {
        var frames: [Data] = []
        while case .frame(let frame, _)? = machine.takeFrame() { frames.append(frame) }
        return frames
    }

    static func started(_ configuration: Machine.Configuration = .init()) -> Machine {
        var machine = Machine(configuration: configuration, peerDescription: "pid 7")
        #expect(machine.start() == [.startReading])
        return machine
    }

    @Test func framesSplitAtEveryByteBoundaryAreReassembled() {
        let payloads = Self.payloads()
        let wire = Self.wire(payloads)
        for cut in 0...wire.count {
            var machine = Self.started()
            #expect(machine.read(wire.prefix(cut)) == [])
            #expect(machine.read(wire.dropFirst(cut)) == [])
            #expect(Self.drain(&machine) == payloads, "cut at \(cut)")
        }
        // And one byte per read.
        var machine = Self.started()
        for byte in wire { #expect(machine.read(Data([byte])) == []) }
        #expect(Self.drain(&machine) == payloads)
        #expect(machine.takeFrame() == nil)
    }

    @Test func manyFramesInOneReadArriveInOrder() {
        let payloads = (0..<200).map { Data("frame \($0)".utf8) }
        var machine = Self.started(.init(highWatermark: 1000))
        #expect(machine.read(Self.wire(payloads)) == [])
        #expect(machine.undeliveredFrameCount == 200)
        #expect(Self.drain(&machine) == payloads)
    }

    @Test func aSuspendedConsumerGetsTheFirstFrameAndTheRestQueue() {
        var machine = Self.started()
        #expect(machine.receive() == .suspend)
        let payloads = [Data("a".utf8), Data("b".utf8), Data("c".utf8)]
        #expect(machine.read(Self.wire(payloads)) == [.deliver(payloads[0])])
        #expect(Self.drain(&machine) == Array(payloads[1...]))
        #expect(machine.receive() == .suspend)
        // Closing ends the wait.
        #expect(machine.readEnded(error: nil) == [.closeHandle])
        #expect(machine.handleClosed() == [.finish(reason: nil)])
        #expect(machine.receive() == .end)
    }

    @Test func oversizedLengthClosesWithAReason() {
        var machine = Self.started(.init(maxFrameSize: 100))
        #expect(machine.read(Self.wire([Data(repeating: 1, count: 100)])) == [])
        #expect(machine.read(Data([0, 0, 0, 101])) == [.closeHandle])
        #expect(machine.closedForViolation)
        let reason = machine.closeReason ?? ""
        #expect(reason.contains("pid 7") && reason.contains("exceeds the maximum of 100"), "\(reason)")
        // Nothing more is read or written; the stream finishes with the reason after the frame before it.
        #expect(machine.read(Self.wire([Data("late".utf8)])) == [])
        #expect(machine.enqueue([Data("reply".utf8)]) == [])
        #expect(machine.handleClosed() == [.finish(reason: reason)])
        #expect(Self.drain(&machine) == [Data(repeating: 1, count: 100)])
        #expect(machine.receive() == .end)
    }

    @Test func zeroLengthFramesTravelBothWays() {
        var machine = Self.started()
        #expect(machine.enqueue([Data()]) == [.write(Data([0, 0, 0, 0]))])
        #expect(machine.read(Data([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])) == [])
        #expect(Self.drain(&machine) == [Data(), Data()])
        #expect(machine.read(Data([0])) == [])
        #expect(Self.drain(&machine) == [Data()])
    }

    @Test func readingPausesAtTheHighWatermarkAndResumesAtTheLowOne() {
        var machine = Self.started(.init(highWatermark: 4, lowWatermark: 1))
        let frame = Self.wire([Data("x".utf8)])
        for _ in 0..<3 { #expect(machine.read(frame) == []) }
        #expect(machine.isReading)
        #expect(machine.read(frame) == [.stopReading])
        #expect(!machine.isReading)
        // Taking frames down to the low watermark (1 left) resumes reading, once.
        #expect(machine.receive() == .frame(Data("x".utf8), resumeReading: false))
        #expect(machine.receive() == .frame(Data("x".utf8), resumeReading: false))
        #expect(machine.receive() == .frame(Data("x".utf8), resumeReading: true))
        #expect(machine.isReading)
        #expect(machine.receive() == .frame(Data("x".utf8), resumeReading: false))
        // Seven frames in one read: one stop, and the queue keeps them all.
        #expect(machine.read(Self.wire(Array(repeating: Data("y".utf8), count: 7))) == [.stopReading])
        #expect(machine.undeliveredFrameCount == 7)
    }

    @Test func ourOwnWriteBacklogNeverPausesReading() {
        var machine = Self.started(.init(highWatermark: 4, lowWatermark: 1, writeHighWatermark: 100, writeLowWatermark: 10))
        #expect(machine.enqueue([Data(repeating: 0, count: 1000)]).count == 1)
        for _ in 0..<50 { _ = machine.enqueue([Data(repeating: 0, count: 1000)]) }
        #expect(machine.waitUntilWritable() == false)
        // Reads go on while the peer does not take our bytes.
        for _ in 0..<3 {
            #expect(machine.read(Self.wire([Data("in".utf8)])) == [])
            _ = machine.takeFrame()
        }
        #expect(machine.isReading)
    }

    @Test func writesAreCoalescedWhileOneIsInFlight() {
        var machine = Self.started()
        let (a, b, c) = (Data("a".utf8), Data("bb".utf8), Data("ccc".utf8))
        #expect(machine.enqueue([a]) == [.write(ClusterFrameDecoder.frame(a))])
        #expect(machine.isWriting)
        #expect(machine.enqueue([b]) == [])
        #expect(machine.enqueue([c, a]) == [])
        #expect(machine.unsentByteCount == 5 + 6 + 7 + 5)
        #expect(machine.writeCompleted(.written) == [.write(Self.wire([b, c, a]))])
        #expect(machine.writeCompleted(.written) == [])
        #expect(!machine.isWriting)
        #expect(machine.unsentByteCount == 0)
        // A completion nobody asked for changes nothing.
        #expect(machine.writeCompleted(.written) == [])
        #expect(machine.enqueue([]) == [])
    }

    @Test func waitUntilWritableFollowsTheWriteWatermarks() {
        var machine = Self.started(.init(writeHighWatermark: 100, writeLowWatermark: 20))
        #expect(machine.waitUntilWritable() == true)
        _ = machine.enqueue([Data(repeating: 1, count: 96)])  // 100 bytes: at the mark, still writable
        #expect(machine.waitUntilWritable() == true)
        _ = machine.enqueue([Data(repeating: 1, count: 26)])  // 130 unsent
        #expect(machine.waitUntilWritable() == false)
        // The first write done leaves 30 (> 20): keep waiting; the second resumes the writers.
        #expect(machine.writeCompleted(.written) == [.write(ClusterFrameDecoder.frame(Data(repeating: 1, count: 26)))])
        #expect(machine.writeCompleted(.written) == [.resumeWriters])
        #expect(machine.waitUntilWritable() == true)
    }

    @Test func enqueueAfterCloseIsIgnored() {
        var machine = Self.started()
        #expect(machine.close(reason: nil) == [.closeHandle])
        #expect(machine.enqueue([Data("late".utf8)]) == [])
        #expect(machine.waitUntilWritable() == true)
        #expect(machine.handleClosed() == [.finish(reason: nil)])
        // A reason given afterwards is kept (the coordinator closes for a violation it found late).
        #expect(machine.close(reason: "expected hello") == [])
        #expect(machine.closeReason == "expected hello")
        #expect(!machine.closedForViolation)
        #expect(machine.enqueue([Data("later".utf8)]) == [])
        #expect(machine.handleClosed() == [])
        #expect(machine.unsentByteCount == 0)
    }

    @Test func eofMidFrameIsReportedAsATornFrame() {
        var machine = Self.started()
        let wire = Self.wire([Data("complete".utf8), Data("torn apart".utf8)])
        #expect(machine.read(wire.dropLast(4)) == [])
        #expect(machine.readEnded(error: nil) == [.closeHandle])
        #expect(!machine.closedForViolation)
        #expect(machine.closeReason == "connection closed mid-frame (10 bytes of an unfinished frame)")
        #expect(machine.handleClosed() == [.finish(reason: machine.closeReason)])
        #expect(Self.drain(&machine) == [Data("complete".utf8)])
        #expect(machine.receive() == .end)

        // EOF at a frame boundary is a clean end.
        var clean = Self.started()
        #expect(clean.read(Self.wire([Data("x".utf8)])) == [])
        #expect(clean.readEnded(error: nil) == [.closeHandle])
        #expect(clean.closeReason == nil)
    }

    @Test func readAndWriteErrorsCloseWithTheirReason() {
        var reader = Self.started()
        #expect(reader.readEnded(error: "connection reset by peer") == [.closeHandle])
        #expect(reader.closeReason == "read failed: connection reset by peer")
        #expect(!reader.closedForViolation)

        var writer = Self.started()
        _ = writer.enqueue([Data("x".utf8)])
        #expect(writer.writeCompleted(.failed("broken pipe")) == [.closeHandle])
        #expect(writer.closeReason == "write failed: broken pipe")
    }

    @Test func aCleanCloseWhileWritesArePendingFlushesThemFirst() {
        var machine = Self.started(.init(writeHighWatermark: 4, writeLowWatermark: 0))
        let (a, b) = (Data("first".utf8), Data("second".utf8))
        _ = machine.enqueue([a])
        _ = machine.enqueue([b])
        #expect(machine.waitUntilWritable() == false)
        #expect(machine.close(reason: nil) == [])
        #expect(machine.enqueue([Data("ignored".utf8)]) == [])
        // Writers do not wait on a closing connection.
        #expect(machine.waitUntilWritable() == true)
        #expect(machine.writeCompleted(.written) == [.write(ClusterFrameDecoder.frame(b))])
        #expect(machine.writeCompleted(.written) == [.resumeWriters, .closeHandle])
        #expect(machine.handleClosed() == [.finish(reason: nil)])
    }

    @Test func aCloseWithAReasonDropsPendingWrites() {
        var machine = Self.started()
        _ = machine.enqueue([Data("first".utf8)])
        _ = machine.enqueue([Data("second".utf8)])
        #expect(machine.close(reason: nil) == [])
        #expect(machine.close(reason: "expected hello") == [.closeHandle])
        #expect(machine.writeCompleted(.cancelled) == [])
        #expect(machine.handleClosed() == [.finish(reason: "expected hello")])
        #expect(!machine.closedForViolation)
    }

    @Test func aCancelledWriteMeansTheHandleIsClosing() {
        // The loop closed the handle under us (shutdown): no retry of the outbox.
        var machine = Self.started()
        _ = machine.enqueue([Data("a".utf8)])
        _ = machine.enqueue([Data("b".utf8)])
        #expect(machine.writeCompleted(.cancelled) == [.closeHandle])
        #expect(machine.handleClosed() == [.finish(reason: nil)])
    }

    @Test func startComesOnceAndNotAfterClose() {
        var machine = Machine()
        #expect(machine.close(reason: "refused") == [.closeHandle])
        #expect(machine.start() == [])
        var open = Machine()
        #expect(open.start() == [.startReading])
        #expect(open.start() == [])
    }
}
