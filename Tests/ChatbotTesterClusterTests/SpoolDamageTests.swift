import ChatbotTesterCluster
import ChatbotTesterClusterPipeline
import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

/// A spool that cannot lie: every damaged, edited or missing file is an error naming it — when the
/// spool is opened, and before a shard is handed out — never a run on changed data or a loop.
@Suite(.serialized) struct SpoolDamageTests {
    /// A fresh spool of 12 samples in 3 shards.
    static func spool() throws -> (URL, ClusterSpool) {
        let directory = try ClusterTestSupport.temporaryDirectory()
        let spool = try ClusterSpool.prepare(
            at: directory.appendingPathComponent("spool"), samples: ClusterTestSupport.samples(12), setup: ClusterTestSupport.setup(),
            samplesPerShard: 4)
        return (directory, spool)
    }

    static func refusal(_ body: () throws -> Void) -> ChatbotTesterError? {
        do {
            try body()
            return nil
        } catch {
            return error as? ChatbotTesterError
        }
    }

    /// Rewrites `url` with `edit` applied to its bytes.
    static func edit(_ url: URL, _ edit: (inout Data) -> Void) throws {
        var data = try Data(contentsOf: url)
        edit(&data)
        try data.write(to: url)
    }

    @Test func manifestAndSidecarAreWrittenAndTheUntouchedSpoolOpens() throws {
        let (directory, spool) = try Self.spool()
        defer { try? FileManager.default.removeItem(at: directory) }
        let sidecar = try String(contentsOf: spool.directory.appendingPathComponent("manifest.sha256"), encoding: .utf8)
        #expect(sidecar.hasSuffix("  manifest.json\n") && sidecar.split(separator: " ")[0].count == 64)
        #expect(spool.manifest.shards.allSatisfy { $0.sha256.count == 64 })
        let reopened = try ClusterSpool.open(at: spool.directory)
        #expect(reopened.manifest == spool.manifest)
        #expect(try reopened.samples(ofShard: 2).map(\.index) == [8, 9, 10, 11])
    }

    @Test(arguments: ["truncated", "deleted", "edited"])
    func damagedShardIsRefusedNamingTheFile(damage: String) throws {
        let (directory, spool) = try Self.spool()
        defer { try? FileManager.default.removeItem(at: directory) }
        let shard = spool.directory.appendingPathComponent(spool.manifest.shards[1].file)
        switch damage {
        case "truncated": try Self.edit(shard) { $0 = $0.prefix($0.count / 2) }
        case "deleted": try FileManager.default.removeItem(at: shard)
        default:
            // Same size, one case's question changed: only the digest tells.
            try Self.edit(shard) { data in
                let range = data.range(of: Data("question".utf8))!
                data.replaceSubrange(range, with: Data("QUESTION".utf8))
            }
        }
        // Before it is handed out…
        let onRead = Self.refusal { _ = try spool.samples(ofShard: 1) }
        #expect(onRead?.code == .invalidInput)
        #expect(onRead?.location?.source == shard.path)
        // …and when the spool is opened again (the size check; an edit of the same size is caught on read).
        let onOpen = Self.refusal { _ = try ClusterSpool.open(at: spool.directory) }
        if damage == "edited" {
            #expect(onOpen == nil)
        } else {
            #expect(onOpen?.location?.source == shard.path)
            #expect(onOpen?.message.contains(damage == "deleted" ? "is missing" : "bytes") == true)
        }
    }

    @Test func editedSetupOrManifestIsRefusedNamingTheFile() throws {
        let (directory, spool) = try Self.spool()
        defer { try? FileManager.default.removeItem(at: directory) }
        let setup = spool.directory.appendingPathComponent("setup.json")
        let original = try Data(contentsOf: setup)
        try Self.edit(setup) { data in
            let range = data.range(of: Data("bot says: ".utf8))!
            data.replaceSubrange(range, with: Data("BOT SAYS: ".utf8))
        }
        let setupError = Self.refusal { _ = try ClusterSpool.open(at: spool.directory) }
        #expect(setupError?.code == .invalidInput && setupError?.location?.source == setup.path)
        #expect(setupError?.message.contains("SHA-256") == true)
        // Resuming through the writer is refused the same way (not silently used).
        let writerError = Self.refusal { _ = try ClusterSpoolWriter(at: spool.directory, setup: ClusterTestSupport.setup()) }
        #expect(writerError?.location?.source == setup.path)
        try original.write(to: setup)

        let manifest = spool.directory.appendingPathComponent("manifest.json")
        try Self.edit(manifest) { data in
            let range = data.range(of: Data("case-5".utf8))!
            data.replaceSubrange(range, with: Data("case-X".utf8))
        }
        let manifestError = Self.refusal { _ = try ClusterSpool.open(at: spool.directory) }
        #expect(manifestError?.location?.source == manifest.path)
        try FileManager.default.removeItem(at: spool.directory.appendingPathComponent("manifest.sha256"))
        let sidecarError = Self.refusal { _ = try ClusterSpool.open(at: spool.directory) }
        #expect(sidecarError?.message.contains("manifest.sha256") == true)
    }

    /// The bug this replaces: a truncated shard was re-assigned forever (millions of attempts).
    /// Now the first assignment of it ends the run with the file named, within seconds.
    @Test(arguments: ["truncated", "edited"])
    func aShardDamagedDuringARunEndsItNamingTheFile(damage: String) async throws {
        let (directory, spool) = try Self.spool()
        defer { try? FileManager.default.removeItem(at: directory) }
        let shard = spool.directory.appendingPathComponent(spool.manifest.shards[2].file)
        if damage == "truncated" {
            // Cut at a line boundary: every remaining line still decodes.
            try Self.edit(shard) { data in data = data.prefix(through: data.firstIndex(of: 0x0A)!) }
        } else {
            try Self.edit(shard) { data in
                let range = data.range(of: Data("question".utf8))!
                data.replaceSubrange(range, with: Data("QUESTION".utf8))
            }
        }
        let events = EventBus()
        let sink = RecordingClusterSink()
        events.subscribe(sink)
        let options = ClusterTestSupport.options(workers: 2, spool: spool.directory)
        let failure: ChatbotTesterError? = try await withTimeout(60) {
            do {
                _ = try await ClusterRun.run(spool: spool, options: options, events: events)
                return nil
            } catch {
                return error as? ChatbotTesterError
            }
        }
        await events.shutdown()
        #expect(failure?.code == .invalidInput)
        #expect(failure?.location?.source == shard.path)
        // No loop (the old code re-assigned it millions of times): at most a re-queue as workers leave.
        let lost = sink.events.current.filter { if case .workerLost = $0 { true } else { false } }
        #expect(lost.count <= 2)
    }

    /// One bad line mid-journal: `--resume` goes on, the damaged sample is played again and the
    /// merged output has every sample once.
    @Test func resumeOverADamagedJournalLineRunsThatSampleAgain() async throws {
        let (directory, spool) = try Self.spool()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out")
        _ = try await withTimeout(120) {
            try await ClusterRun.run(spool: spool, options: ClusterTestSupport.options(workers: 2, spool: spool.directory, output: output))
        }
        // Overwrite the 5th line with garbage of the same length.
        var lines = try Data(contentsOf: spool.journalURL).split(separator: 0x0A, omittingEmptySubsequences: false)
        let damagedId = try JSONCoding.decoder().decode(ClusterRecord.self, from: Data(lines[4])).sampleId
        lines[4] = Data(repeating: UInt8(ascii: "#"), count: lines[4].count)[...]
        try Data(lines.joined(separator: [0x0A])).write(to: spool.journalURL)
        #expect(try !spool.journaledIds().contains(damagedId))

        let events = EventBus()
        let sink = RecordingClusterSink()
        events.subscribe(sink)
        let reopened = try ClusterSpool.open(at: spool.directory)
        let outcome = try await withTimeout(120) {
            try await ClusterRun.run(spool: reopened, options: ClusterTestSupport.options(workers: 1, spool: spool.directory, output: output), events: events)
        }
        await events.shutdown()
        #expect(outcome.stats.resumed == 11)
        #expect(outcome.mergedSamples == 12)
        #expect(Set(try ClusterTestSupport.journalIdsSkippingDamage(spool.directory)).count == 12)
        let results = try String(contentsOf: output.appendingPathComponent("results.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(results.count == 12)
        #expect(results.filter { $0.contains(#""sampleId":"\#(damagedId)""#) }.count == 1)
    }
}

extension ClusterTestSupport {
    /// Sample ids of every decodable journal line.
    static func journalIdsSkippingDamage(_ spool: URL) throws -> [String] {
        let data = try Data(contentsOf: spool.appendingPathComponent("journal.jsonl"))
        let decoder = JSONCoding.decoder()
        return data.split(separator: 0x0A).compactMap { try? decoder.decode(ClusterRecord.self, from: Data($0)).sampleId }
    }
}
