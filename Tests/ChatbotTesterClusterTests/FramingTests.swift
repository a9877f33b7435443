import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterCluster

@Suite struct FramingTests {
    @Test func roundTripsFramesSplitAnywhere() throws {
        let payloads = (0..<20).map { Data(repeating: UInt8($0), count: $0 * 7) }
        var wire = Data()
        for payload in payloads { ClusterFrameDecoder.appendFrame(payload, to: &wire) }
        for chunk in [1, 3, 5, 64, wire.count] {
            var decoder = ClusterFrameDecoder()
            var out: [Data] = []
            var offset = 0
            while offset < wire.count {
                let end = min(wire.count, offset + chunk)
                out += try decoder.feed(wire[offset..<end])
                offset = end
            }
            #expect(out == payloads)
            #expect(decoder.bufferedByteCount == 0)
        }
    }

    /// Reads that end on frame boundaries (the decoder holds nothing, frames are copied straight out
    /// of the read) and reads that end anywhere, mixed at random.
    @Test func roundTripsFramesInReadsOfEverySize() throws {
        var g = SeededGenerator(seed: 5)
        let payloads = (0..<300).map { Data(repeating: UInt8($0 % 251), count: [0, 1, 3, 4, 5, 100, 70_000].randomElement(using: &g)!) }
        var wire = Data()
        var boundaries: [Int] = []
        for payload in payloads {
            ClusterFrameDecoder.appendFrame(payload, to: &wire)
            boundaries.append(wire.count)
        }
        for round in 0..<20 {
            var decoder = ClusterFrameDecoder()
            var out: [Data] = []
            var offset = 0
            while offset < wire.count {
                let end = Bool.random(using: &g)
                    ? boundaries.first { $0 > offset + Int.random(in: 0..<200_000, using: &g) } ?? wire.count
                    : min(wire.count, offset + Int.random(in: 1..<90_000, using: &g))
                out += try decoder.feed(wire[offset..<end])
                offset = end
            }
            #expect(out == payloads, "round \(round)")
            #expect(decoder.bufferedByteCount == 0)
        }
    }

    @Test func rejectsOversizedFrame() throws {
        var decoder = ClusterFrameDecoder(maxFrameSize: 100)
        #expect(throws: (any Error).self) { _ = try decoder.feed(Data([0, 0, 0, 101])) }
        // After a complete frame in the same read, and announced across two reads.
        var second = ClusterFrameDecoder(maxFrameSize: 100)
        #expect(throws: (any Error).self) { _ = try second.feed(Data([0, 0, 0, 1, 7, 0, 0, 0, 101])) }
        var third = ClusterFrameDecoder(maxFrameSize: 100)
        #expect(try third.feed(Data([0, 0])).isEmpty)
        #expect(throws: (any Error).self) { _ = try third.feed(Data([1, 0])) }
    }
}
