import ChatbotTesterCore
import Foundation

/// A journal on S3: appended lines are buffered and each `sync()` writes them as one new part
/// object `<key>.parts/<attempt>/<seq>`, created conditionally so nothing is ever overwritten.
///
/// `<attempt>` is the opening time in milliseconds (13 digits) plus a random suffix, so a restarted
/// writer's parts sort after the earlier attempt's and two writers never share a name.
actor S3Journal: ArtifactJournal {
    private let store: S3ArtifactStore
    private let prefix: String
    private let name: String
    private var pending = Data()
    private var sequence = 0
    private var closed = false

    init(store: S3ArtifactStore, partsPrefix: String, name: String) {
        self.store = store
        let millis = String(Int(Date().timeIntervalSince1970 * 1000))
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        self.prefix = partsPrefix + String(repeating: "0", count: max(0, 13 - millis.count)) + millis + "-"
            + String(repeating: "0", count: 8 - random.count) + random + "/"
        self.name = name
    }

    func append(_ line: Data) async throws {
        guard !closed else { throw ChatbotTesterError(.io, "journal \(name) is closed", location: SourceLocation(source: name)) }
        pending.append(line)
        pending.append(0x0A)
        if pending.count >= store.client.configuration.journalFlushThreshold { try await writePart() }
    }

    func sync() async throws {
        guard !closed else { throw ChatbotTesterError(.io, "journal \(name) is closed", location: SourceLocation(source: name)) }
        try await writePart()
    }

    func close() async throws {
        guard !closed else { return }
        try await writePart()
        closed = true
    }

    private func writePart() async throws {
        guard !pending.isEmpty else { return }
        let chunk = pending
        pending = Data()
        sequence += 1
        let digits = String(sequence)
        let key = prefix + String(repeating: "0", count: max(0, 10 - digits.count)) + digits
        do {
            let created = try await store.client.putObject(bucket: store.location.bucket, key: key, data: chunk, ifAbsent: true)
            guard created else {
                throw ChatbotTesterError(.io, "journal part \(store.location.url(ofObject: key)) already exists", location: SourceLocation(source: name))
            }
        } catch {
            // Keep the lines for the next sync, ahead of anything appended meanwhile.
            pending = chunk + pending
            throw error
        }
    }
}
