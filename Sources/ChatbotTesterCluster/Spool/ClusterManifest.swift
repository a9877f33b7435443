import ChatbotTesterCore

/// The run manifest in a spool directory (`manifest.json`): what the run is and how it is sharded.
public struct ClusterManifest: Sendable, Hashable, Codable {
    public static let currentSchemaVersion = 1

    /// One shard file.
    public struct Shard: Sendable, Hashable, Codable {
        public var id: Int
        /// Path relative to the spool directory.
        public var file: String
        public var count: Int
        public var bytes: Int
        /// Dataset index of the first sample (shards are contiguous).
        public var firstIndex: Int
        /// The sample ids in order.
        public var sampleIds: [String]
    }

    public var schemaVersion: Int
    public var runId: String
    public var sampleCount: Int
    /// Digest of the job setup, so a restart with another config is refused.
    public var setupDigest: String
    public var shards: [Shard]

    public init(runId: String, sampleCount: Int, setupDigest: String, shards: [Shard]) {
        self.schemaVersion = Self.currentSchemaVersion
        self.runId = runId
        self.sampleCount = sampleCount
        self.setupDigest = setupDigest
        self.shards = shards
    }
}
