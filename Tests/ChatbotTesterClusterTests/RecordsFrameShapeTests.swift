import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// A records frame as workers write it is read by its fixed head and tail (the body scanned
/// once); any other member order or spacing is read as a whole, to the same envelopes.
@Suite struct RecordsFrameShapeTests {
    @Test func theWorkersShapeAndAnyOtherReadAlike() throws {
        let codec = ClusterMessageCodec()
        let records = LeanDataPathTests.records()
        let canonical = try codec.encode(.records(records))
        #expect(ClusterMessageCodec.recordsShape(of: canonical) != nil)
        let body = try #require(ClusterMessageCodec.recordsShape(of: canonical))
        let bodyText = String(decoding: canonical[body], as: UTF8.self)
        let reordered = Data(#"{ "type" : "records" , "body" : \#(bodyText) }"#.utf8)
        #expect(ClusterMessageCodec.recordsShape(of: reordered) == nil)
        guard case .records(let fast) = try codec.decodeIncoming(canonical, peer: "w"),
            case .records(let whole) = try codec.decodeIncoming(reordered, peer: "w")
        else {
            Issue.record("not read as records")
            return
        }
        #expect(fast.count == records.count)
        #expect(fast.map(\.bytes) == whole.map(\.bytes))
        #expect(fast.map(\.sampleId) == records.map(\.sampleId))
        // The head and tail alone, or a frame of another type, are not the records shape.
        #expect(ClusterMessageCodec.recordsShape(of: Data(#"{"body":,"type":"records"}"#.utf8)) == nil)
        #expect(ClusterMessageCodec.recordsShape(of: try codec.encode(.heartbeat)) == nil)
    }

    /// The statistics read from an envelope use the run members its scan kept (moved by the
    /// sample's splice): the same facts as scanning the journal line afresh.
    @Test func factsFromTheKeptMembersEqualAFreshScan() throws {
        for record in LeanDataPathTests.records() {
            let wire = try ClusterRecordEnvelope(scanning: record.wireBytes(omittingSample: true))
            let full = wire.sampleOmitted ? wire.splicingSample(try JSONCoding.encoder().encode(record.run.sample)) : wire
            let fresh = try ClusterRecordEnvelope(scanning: full.bytes)
            #expect(full.runMembers == fresh.runMembers, "\(record.sampleId)")
            var kept = RunStatistics(), scanned = RunStatistics(), decoded = RunStatistics()
            kept.add(try ClusterRunFacts(scanning: full))
            scanned.add(try ClusterRunFacts(scanning: full.bytes, run: full.runRange))
            decoded.add(record.run)
            #expect(kept == scanned, "\(record.sampleId)")
            #expect(kept == decoded, "\(record.sampleId)")
        }
    }
}

