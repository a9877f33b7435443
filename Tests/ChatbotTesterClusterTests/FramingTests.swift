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

    @Test func rejectsOversizedFrame() {
        var decoder = ClusterFrameDecoder(maxFrameSize: 100)
        #expect(throws: (any Error).self) { _ = try decoder.feed(Data([0, 0, 0, 101])) }
    }
}
