import ChatbotTesterCore
import Foundation

/// A spool kept in an `ArtifactStore` (indexed runs: `plan` writes it, each `worker` and `merge`
/// fetch what they need). The objects under the prefix are the spool directory's files, with the
/// same digests, so a spool in a store is checked exactly as one on disk.
extension ClusterSpool {
    /// Copies this spool's files to `store` under `prefix` (`"spool/"`): the shards, `setup.json`,
    /// `manifest.sha256` and last `manifest.json`, whose presence marks a complete spool. Files are
    /// streamed (`write(contentsOf:to:)`), never all in memory.
    public func upload(to store: any ArtifactStore, prefix: String) async throws {
        for shard in manifest.shards {
            try await store.write(contentsOf: directory.appendingPathComponent(shard.file), to: prefix + shard.file)
        }
        for file in [Self.setupFile, Self.manifestDigestFile, Self.manifestFile] {
            try await store.write(contentsOf: directory.appendingPathComponent(file), to: prefix + file)
        }
    }

    /// Fetches a spool from `store` (under `prefix`) into the local `directory`: the manifest, its
    /// digest, `setup.json` and the shards listed in `shards` (a worker fetches its own only, a merge
    /// none). Every object is checked against its recorded SHA-256 before use, as `open(at:)` checks
    /// files. `name` (the store's URL) prefixes the keys in messages.
    ///
    /// - Throws: `.invalidInput` naming the missing, damaged or edited object; `.io` when the store
    ///   or the directory fails.
    public static func download(
        from store: any ArtifactStore, prefix: String, name: String, into directory: URL, shards: [Int]
    ) async throws -> ClusterSpool {
        func fetch(_ file: String) async throws -> Data {
            guard await store.exists(prefix + file) else {
                throw damagedObject(name + prefix + file, "is missing (is the run planned? `chatbot-tester plan` writes it)")
            }
            return try await store.read(prefix + file)
        }
        func decode<T: Decodable>(_ type: T.Type, _ data: Data, _ file: String) throws -> T {
            do {
                return try JSONCoding.decoder().decode(T.self, from: data)
            } catch {
                throw ChatbotTesterError.decoding(error, source: name + prefix + file, line: nil)
            }
        }
        let manifestData = try await fetch(manifestFile)
        let sidecar = try await fetch(manifestDigestFile)
        let recorded = String(decoding: sidecar, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
        let actual = SpoolDigest.sha256(manifestData)
        guard recorded == actual else {
            throw damagedObject(name + prefix + manifestFile, "was changed after the spool was written: its SHA-256 is \(actual), \(manifestDigestFile) says \(recorded)")
        }
        struct Header: Decodable { var schemaVersion: Int }
        let manifestURL = directory.appendingPathComponent(manifestFile)
        let version = try decode(Header.self, manifestData, manifestFile).schemaVersion
        guard ClusterManifest.readableSchemaVersions.contains(version) else {
            throw damagedObject(name + prefix + manifestFile, "has spool format \(version); this version reads formats \(ClusterManifest.readableSchemaVersions.map(String.init).joined(separator: ", ")) (plan the run again)")
        }
        let manifest = try decode(ClusterManifest.self, manifestData, manifestFile)
        let setupData = try await fetch(setupFile)
        guard SpoolDigest.sha256(setupData) == manifest.setupSHA256 else {
            throw damagedObject(name + prefix + setupFile, "was changed after the spool was written: \(manifestFile) recorded SHA-256 \(manifest.setupSHA256)")
        }
        let setup = try decode(ClusterJobSetup.self, setupData, setupFile)
        try FileArtifactStore.atomicWrite(setupData, to: directory.appendingPathComponent(setupFile))
        for id in shards {
            guard let shard = manifest.shards.first(where: { $0.id == id }) else { continue }
            let data = try await fetch(shard.file)
            guard data.count == shard.bytes, SpoolDigest.sha256(data) == shard.sha256 else {
                throw damagedObject(
                    name + prefix + shard.file, "was changed after the spool was written: \(data.count) bytes, \(manifestFile) recorded \(shard.bytes) and SHA-256 \(shard.sha256)")
            }
            try FileArtifactStore.atomicWrite(data, to: directory.appendingPathComponent(shard.file))
        }
        try FileArtifactStore.atomicWrite(sidecar, to: directory.appendingPathComponent(manifestDigestFile))
        try FileArtifactStore.atomicWrite(manifestData, to: manifestURL)
        return ClusterSpool(directory: directory, manifest: manifest, setup: setup)
    }

    /// A spool object that is not what was written.
    static func damagedObject(_ name: String, _ what: String) -> ChatbotTesterError {
        ChatbotTesterError(.invalidInput, "spool object \(name) \(what)", location: SourceLocation(source: name))
    }
}
