import ChatbotTesterClusterUV
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterCluster

/// Protocol 10: samples assigned by reference. The frame's bytes are JSONEncoder's; a worker reads
/// the samples from the spool's shards exactly as the coordinator would send them, refuses a shard
/// that is not the one named (file name, size, digest, line, id) naming the file, and a real
/// worker process hands unreadable samples back and plays readable ones.
@Suite struct AssignByReferenceTests {
    static func spool(_ count: Int = 30, per: Int = 10) throws -> (URL, ClusterSpool) {
        let directory = try ClusterTestSupport.temporaryDirectory()
        let spool = try ClusterSpool.prepare(
            at: directory.appendingPathComponent("spool"), samples: ClusterTestSupport.samples(count), setup: ClusterTestSupport.setup(),
            samplesPerShard: per)
        return (directory, spool)
    }

    static func assignment(_ spool: ClusterSpool, indexes: [Int], slots: Int? = 3) -> ClusterMessage.AssignmentByReference {
        let shards = spool.manifest.shards.filter { shard in indexes.contains { shard.firstIndex..<(shard.firstIndex + shard.count) ~= $0 } }
        return ClusterMessage.AssignmentByReference(
            shards: shards.map(ClusterMessage.ShardReference.init),
            samples: indexes.map { index in
                let shard = spool.manifest.shards.first { $0.firstIndex..<($0.firstIndex + $0.count) ~= index }!
                return ClusterMessage.SampleReference(index: index, id: shard.sampleIds[index - shard.firstIndex])
            }, slots: slots)
    }

    @Test func theFrameIsWhatTheEncoderWritesAndReadsBack() throws {
        let codec = ClusterMessageCodec()
        for slots in [nil, 16] as [Int?] {
            let assignment = ClusterMessage.AssignmentByReference(
                shards: [
                    .init(id: 0, file: "shards/shard-00000.jsonl", bytes: 1234, sha256: String(repeating: "a", count: 64), firstIndex: 0, count: 10),
                    .init(id: 12, file: "shards/shard-00012.jsonl", bytes: 99, sha256: String(repeating: "0", count: 64), firstIndex: 120, count: 3),
                ],
                samples: [.init(index: 9, id: "plain"), .init(index: 120, id: "quote\" back\\slash / tab\t é 😀 \u{1}"), .init(index: 121, id: "")],
                slots: slots)
            let fast = codec.encodeAssignByReference(assignment)
            #expect(fast == (try codec.encode(.assignByReference(assignment))))
            #expect(try codec.decodeAtWorker(fast, peer: "test") == .assignByReference(assignment))
            // Read over its bytes unless an id needs unescaping (then decoded whole, as above).
            #expect(ClusterMessageCodec.assignmentByReference(inCoordinatorShape: fast) == nil)
            var plain = assignment
            plain.samples[1].id = "é 😀 plain"
            let plainFrame = codec.encodeAssignByReference(plain)
            #expect(ClusterMessageCodec.assignmentByReference(inCoordinatorShape: plainFrame) == plain)
            #expect(try codec.decodeAtWorker(plainFrame, peer: "test") == .assignByReference(plain))
            // Every cut of the frame is refused by the byte reader (and by the decoder).
            for cut in 0..<plainFrame.count {
                #expect(ClusterMessageCodec.assignmentByReference(inCoordinatorShape: plainFrame.prefix(cut)) == nil)
            }
        }
        let empty = ClusterMessage.AssignmentByReference(shards: [], samples: [], slots: 0)
        #expect(ClusterMessageCodec.assignmentByReference(inCoordinatorShape: codec.encodeAssignByReference(empty)) == empty)
        #expect(try codec.decode(codec.encodeAssignByReference(empty), peer: "test") == .assignByReference(empty))
    }

    /// A spool line's index and sample bytes, read over its raw bytes; any other shape is nil.
    @Test func anIndexedLineIsReadOnlyInTheSpoolsShape() {
        func read(_ text: String) -> (Int, String)? {
            let data = Data(("xx" + text).utf8).dropFirst(2)  // a slice, as the reader's lines are
            return ClusterMessageCodec.indexedLine(data).map { ($0.index, String(decoding: $0.sample, as: UTF8.self)) }
        }
        #expect(read(#"{"index":0,"sample":{"id":"a"}}"#)! == (0, #"{"id":"a"}"#))
        #expect(read(#"{"index":907,"sample":{"input":"}","id":"b"}}"#)! == (907, #"{"input":"}","id":"b"}"#))
        #expect(read(#"{"index":123456789012345678,"sample":{}}"#)! == (123_456_789_012_345_678, "{}"))
        for bad in [
            #"{"index":01,"sample":{"id":"a"}}"#, #"{"index":,"sample":{"id":"a"}}"#, #"{"index":1,"sampl":{"id":"a"}}"#,
            #"{"index":1,"sample":["a"]}"#, #"{"index":1,"sample":}"#, #"{"index": 1,"sample":{}}"#, #"{"index":1,"sample":{}"#,
            #"{"sample":{},"index":1}"#, #"{"index":1234567890123456789,"sample":{}}"#, "", "}",
        ] {
            #expect(read(bad) == nil, "\(bad)")
        }
    }

    /// What a worker reads by reference is what the coordinator would have sent: each sample as the
    /// shard holds it (bytes included), in the order named, across shards.
    @Test func aWorkerReadsTheSamplesTheCoordinatorWouldSend() throws {
        let (directory, spool) = try Self.spool()
        defer { try? FileManager.default.removeItem(at: directory) }
        var reader = WorkerShardReader(journalPath: spool.journalURL.path)
        let indexes = [8, 9, 10, 11, 29, 0]
        let read = try reader.samples(of: Self.assignment(spool, indexes: indexes))
        let lines = try spool.manifest.shards.flatMap { try spool.sampleLines(ofShard: $0.id) }
        let expected = try spool.manifest.shards.flatMap { try spool.samples(ofShard: $0.id) }
        #expect(read.map(\.index) == indexes)
        #expect(read == indexes.map { expected[$0] })
        #expect(read.map(\.encodedSample) == indexes.map { lines[$0].sample })
        #expect(read.allSatisfy { $0.byReference })
        // Read again from the shards kept.
        #expect(try reader.samples(of: Self.assignment(spool, indexes: [12])) == [expected[12]])
    }

    @Test(arguments: ["edited", "truncated", "missing", "name", "outside", "id", "index", "count", "first", "negative"])
    func aShardThatIsNotTheOneNamedIsUnreadableNamingWhy(_ fault: String) throws {
        let (directory, spool) = try Self.spool()
        defer { try? FileManager.default.removeItem(at: directory) }
        var assignment = Self.assignment(spool, indexes: [11, 12])
        let file = spool.directory.appendingPathComponent(spool.manifest.shards[1].file)
        switch fault {
        case "edited":
            var data = try Data(contentsOf: file)
            data[data.index(data.startIndex, offsetBy: 30)] ^= 0x01
            try data.write(to: file)
        case "truncated": try Data(contentsOf: file).dropLast(5).write(to: file)
        case "missing": try FileManager.default.removeItem(at: file)
        case "name": assignment.shards[0].file = "../spool/manifest.json"
        case "outside": assignment.shards[0].file = "shards/shard-1/../../setup.json"
        case "id": assignment.samples[1].id = "someone-else"
        // Numbers no shard has (a frame the decoder read: the byte reader takes at most 18 digits).
        case "count": assignment.shards[0].count = Int.max - 20
        case "first": assignment.shards[0].firstIndex = Int.max - 1
        case "negative": assignment.shards[0].firstIndex = -5
        default: assignment.samples[1].index = 25
        }
        var reader = WorkerShardReader(journalPath: spool.journalURL.path)
        let why: String
        do {
            _ = try reader.samples(of: assignment)
            Issue.record("\(fault): read")
            return
        } catch {
            why = error.description
        }
        switch fault {
        case "name", "outside": #expect(why.contains("is not a shard of the spool"), "\(why)")
        case "index", "first", "negative": #expect(why.contains("in none of the shards named"), "\(why)")
        case "count": #expect(why.contains("named with \(Int.max - 20) lines"), "\(why)")
        case "id": #expect(why.contains(file.path) && why.contains("'someone-else'"), "\(why)")
        default: #expect(why.contains(file.path), "\(fault): \(why)")
        }
    }

    /// A real worker, offered the journal, reads samples by reference: one assignment naming a
    /// shard whose digest is not the file's comes back `released` as unreadable, naming the file;
    /// the next, naming the right shard, is played and appended to the journal.
    @Test func aWorkerHandsBackWhatItCannotReadAndPlaysWhatItCan() async throws {
        let (directory, spool) = try Self.spool(20, per: 5)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.sock").path
        let journal = try FileJournal(url: spool.journalURL, mode: 0o600)
        let identity = try journal.fileIdentity()
        let codec = ClusterMessageCodec()
        try await withTimeout(60) {
            try await UVLoop.withLoop { loop in
                let listener = try await UVPipeListener.listen(path: path, loop: loop)
                let worker = try await UVProcess.spawn(executable: ClusterTestSupport.hostPath, arguments: ["worker", "--connect", path], loop: loop)
                guard let connection = await listener.accept(), let hello = await connection.receive(),
                    case .hello = try codec.decode(hello, peer: "worker")
                else { throw ChatbotTesterError(.proto, "expected hello") }
                connection.enqueue([
                    try codec.encode(
                        .welcome(
                            .init(
                                runId: "r", setup: spool.setup, heartbeatSeconds: 5,
                                recordJournal: .init(path: spool.journalURL.path, device: identity.device, inode: identity.inode),
                                samplesAsWritten: spool.manifest.samplesAsWritten)))
                ])
                var wrong = Self.assignment(spool, indexes: [5, 6])
                wrong.shards[0].sha256 = String(repeating: "0", count: 64)
                connection.enqueue([codec.encodeAssignByReference(wrong)])
                guard let answer = await connection.receive(), case .released(let released) = try codec.decode(answer, peer: "worker") else {
                    throw ChatbotTesterError(.proto, "expected released")
                }
                #expect(released.sampleIds == wrong.samples.map(\.id))
                let file = spool.directory.appendingPathComponent(spool.manifest.shards[1].file).path
                #expect(released.unreadable?.contains(file) == true, "\(released)")
                let right = Self.assignment(spool, indexes: [15, 16, 17])
                connection.enqueue([codec.encodeAssignByReference(right)])
                var journaled: [Int] = []
                while journaled.count < 3, let payload = await connection.receive() {
                    if case .journaled(let batch) = try codec.decodeIncoming(payload, peer: "worker") { journaled += batch.items.map(\.index) }
                }
                #expect(journaled.sorted() == [15, 16, 17])
                connection.enqueue([try codec.encode(.drain)])
                let exit = await worker.waitForExit()
                #expect(exit.status == 0 && exit.signal == 0)
                listener.close()
            }
        }
        let lines = try Data(contentsOf: spool.journalURL).split(separator: 0x0A).map { try ClusterRecord.decode(journalLine: Data($0)) }
        #expect(lines.map(\.index).sorted() == [15, 16, 17])
        #expect(lines.allSatisfy { $0.sampleId == spool.manifest.shards[3].sampleIds[$0.index - 15] })
    }
}
