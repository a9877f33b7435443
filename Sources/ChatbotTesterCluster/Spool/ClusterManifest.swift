import ChatbotTesterCore

/// The run manifest in a spool directory (`manifest.json`): what the run is, how it is sharded and
/// the SHA-256 of every file it refers to (checked when the spool is opened and before each shard
/// is handed out). Its own SHA-256 is in `manifest.sha256` beside it.
public struct ClusterManifest: Sendable, Hashable, Codable {
    /// 2: file digests (`sha256` per shard, `setupSHA256`) and the `manifest.sha256` sidecar.
    /// 3: `samplesAsWritten` (shards may hold the cases as the dataset wrote them).
    public static let currentSchemaVersion = 3
    /// The formats this version reads (a format-2 spool holds its cases encoded).
    public static let readableSchemaVersions = 2...3

    /// One shard file.
    public struct Shard: Sendable, Hashable, Codable {
        public var id: Int
        /// Path relative to the spool directory.
        public var file: String
        public var count: Int
        public var bytes: Int
        /// SHA-256 of the shard file, 64 hex digits.
        public var sha256: String
        /// Dataset index of the first sample (shards are contiguous).
        public var firstIndex: Int
        /// The sample ids in order.
        public var sampleIds: [String]

        public init(id: Int, file: String, count: Int, bytes: Int, sha256: String, firstIndex: Int, sampleIds: [String]) {
            self.id = id
            self.file = file
            self.count = count
            self.bytes = bytes
            self.sha256 = sha256
            self.firstIndex = firstIndex
            self.sampleIds = sampleIds
        }
    }

    public var schemaVersion: Int
    public var runId: String
    public var sampleCount: Int
    /// Digest of the job setup, so a restart with another config is refused.
    public var setupDigest: String
    /// SHA-256 of the `setup.json` file as written.
    public var setupSHA256: String
    public var shards: [Shard]
    /// Whether each shard line's `sample` is the case as the dataset's line wrote it (whitespace,
    /// member order and numbers as written) rather than its encoding (`nil`: encoded). A worker
    /// then writes the case back into its records encoded from what it decoded, as one process
    /// does; the spool's bytes themselves are the dataset's, exactly.
    public var samplesAsWritten: Bool?

    public init(runId: String, sampleCount: Int, setupDigest: String, setupSHA256: String, shards: [Shard], samplesAsWritten: Bool? = nil) {
        self.schemaVersion = Self.currentSchemaVersion
        self.runId = runId
        self.sampleCount = sampleCount
        self.setupDigest = setupDigest
        self.setupSHA256 = setupSHA256
        self.shards = shards
        self.samplesAsWritten = samplesAsWritten
    }
}
