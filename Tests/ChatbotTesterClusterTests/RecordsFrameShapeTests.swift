import ChatbotTesterCore
import ChatbotTesterTesting
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
    /// A records frame in the workers' shape is walked once (`decodeIncoming`), record by record:
    /// the same envelopes as scanning each record on its own (`scanIncoming`), and for every
    /// one-byte change, deletion or duplicated member the same envelopes or the same error.
    @Test(.cpuBound) func theOneWalkReadsWhatTheRecordByRecordScanReads() async throws {
        let codec = ClusterMessageCodec()
        let records = LeanDataPathTests.records()
        let full = try codec.encode(.records(records))
        let body = try #require(ClusterMessageCodec.recordsShape(of: full))
        #expect(try ClusterMessageCodec.walkRecords(full, body: body) == {
            guard case .records(let scanned) = try codec.scanIncoming(full, peer: "w") else { return [] }
            return scanned
        }())
        func agree(_ payload: Data) {
            switch (Result { try codec.decodeIncoming(payload, peer: "w") }, Result { try codec.scanIncoming(payload, peer: "w") }) {
            case (.success(let walked), .success(let scanned)): #expect(walked == scanned, "\(String(decoding: payload, as: UTF8.self))")
            case (.failure(let walked), .failure(let scanned)): #expect("\(walked)" == "\(scanned)")
            default: Issue.record("one read failed, the other did not: \(String(decoding: payload, as: UTF8.self))")
            }
        }
        // Mutations of a frame of two records (one failed, one with evaluations and escapes).
        let small = try codec.encode(.records([records[3], records[5]]))
        var variants = ByteMutations.oneByteChanges(of: Array(small), replacing: Array(#""}1x"#.utf8))
        let text = String(decoding: small, as: UTF8.self)
        for duplicate in [#""index":3,"#, #""sampleId":"case-3","#, #""status":"error","#] {
            variants.append(Array(text.replacingOccurrences(of: duplicate, with: duplicate + duplicate).utf8))
        }
        var walked = 0
        for variant in variants {
            let payload = Data(variant)
            if let shape = ClusterMessageCodec.recordsShape(of: payload), (try? ClusterMessageCodec.walkRecords(payload, body: shape)) != nil { walked += 1 }
            agree(payload)
        }
        #expect(walked > 100 && walked < variants.count)
    }
}
