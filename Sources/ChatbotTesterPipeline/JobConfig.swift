import ChatbotTesterCore
import Foundation

/// A job config file (YAML or JSON): backends, where the cases come from, how to run and evaluate
/// them, and where the output goes.
///
/// ```yaml
/// backends:
///   bot:   {type: openai, baseURL: "http://127.0.0.1:8080/v1", model: my-bot, apiKey: {env: BOT_KEY}}
///   judge: {type: anthropic, model: claude-sonnet, apiKey: {env: ANTHROPIC_API_KEY}}
/// dataset: data/cases.jsonl        # or  generate: {...}
/// run:      {target: bot, concurrency: 32, timeoutSeconds: 60, retries: 4}
/// evaluate: {metrics: [{type: contains, value: "30 days"}]}
/// output:   runs/nightly
/// ```
///
/// Stage sections (`generate`, `run`, `evaluate`) are kept as JSON and decoded by their stage's own
/// types through ``section(_:as:)``, so errors name the file, line and field.
public struct JobConfig: Sendable {
    /// The parsed document (keeps line numbers for errors).
    public var document: ConfigDocument
    /// A name for the job, used in reports.
    public var name: String?
    /// Named backend instances.
    public var backends: RegistryConfig
    /// The dataset file, when cases are read rather than generated.
    public var dataset: DatasetSource?
    /// The output directory as written (relative to the working directory).
    public var output: String?
    /// Relative dataset and document paths are resolved against this directory (the config's).
    public var baseDirectory: URL

    /// The top-level keys a job config may have.
    public static let topLevelKeys: Set<String> = [
        "name", "description", "backends", "dataset", "generate", "run", "evaluate", "output",
    ]

    /// Loads and checks the shape of a config file, expanding `${NAME}` / `${NAME:-default}` from
    /// `environment`. Stage sections are checked when decoded.
    public static func load(
        contentsOf url: URL, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> JobConfig {
        try JobConfig(
            document: ConfigDocument.load(contentsOf: url, environment: environment), baseDirectory: url.deletingLastPathComponent())
    }

    /// Builds a config from a parsed document.
    public init(document: ConfigDocument, baseDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) throws {
        self.document = document
        self.baseDirectory = baseDirectory
        guard let object = document.value.objectValue else {
            throw ChatbotTesterError(.invalidConfig, "a job config must be a mapping of sections", location: document.location(of: ""))
        }
        for key in object.keys.sorted() where !Self.topLevelKeys.contains(key) {
            throw ChatbotTesterError(
                .invalidConfig, "unknown section '\(key)' (sections: \(Self.topLevelKeys.sorted().joined(separator: ", ")))",
                location: document.location(of: key))
        }
        name = try document.decode(String?.self, at: "name")
        backends = RegistryConfig()
        if object["backends"] != nil {
            backends = try document.decode(RegistryConfig.self, at: "backends")
            try ConfigCredentials.check(document)
        }
        dataset = nil
        if object["dataset"] != nil { dataset = try document.decode(DatasetSource.self, at: "dataset") }
        output = try document.decode(String?.self, at: "output")
        if dataset != nil, object["generate"] != nil {
            throw ChatbotTesterError(
                .invalidConfig, "give either 'dataset' or 'generate', not both", location: document.location(of: "generate"))
        }
    }

    /// Whether the config has a section.
    public func has(_ section: String) -> Bool {
        guard let value = document.value[section] else { return false }
        return !value.isNull
    }

    /// Decodes a stage section with the stage's own type; `nil` when the section is absent.
    public func section<T: Decodable>(_ key: String, as type: T.Type) throws -> T? {
        guard has(key) else { return nil }
        return try document.decode(T.self, at: key)
    }

    /// The dataset path resolved against the config's directory.
    public func datasetURL() -> URL? {
        dataset.map { $0.path == "-" ? URL(fileURLWithPath: "/dev/stdin") : resolve($0.path) }
    }

    /// Resolves a path written in the config: absolute as is, relative against the config's directory.
    public func resolve(_ path: String) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path) }
        return baseDirectory.appendingPathComponent(path).standardizedFileURL
    }
}

/// Where test cases are read from: `dataset: cases.jsonl` or
/// `dataset: {path: cases.jsonl, limit: 100, tags: [smoke], maxLineBytes: 67108864}`.
/// `-` reads standard input; a FIFO works too (either is copied into the output directory first).
public struct DatasetSource: Sendable, Hashable, Codable {
    /// A JSONL file of `TestSample`s.
    public var path: String
    /// Only the first `limit` cases.
    public var limit: Int?
    /// Only cases having at least one of these tags.
    public var tags: [String]?
    /// The longest line accepted (default `JSONL.defaultMaxLineBytes`, 16 MiB).
    public var maxLineBytes: Int?

    public init(path: String, limit: Int? = nil, tags: [String]? = nil, maxLineBytes: Int? = nil) {
        self.path = path
        self.limit = limit
        self.tags = tags
        self.maxLineBytes = maxLineBytes
    }

    /// The line limit in force.
    public var lineLimit: Int { maxLineBytes ?? JSONL.defaultMaxLineBytes }

    enum CodingKeys: String, CodingKey, CaseIterable { case path, limit, tags, maxLineBytes }

    public init(from decoder: any Decoder) throws {
        if let path = try? decoder.singleValueContainer().decode(String.self) {
            self.init(path: path)
            return
        }
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            path: try c.decode(String.self, forKey: .path), limit: try c.decodeIfPresent(Int.self, forKey: .limit),
            tags: try c.decodeIfPresent([String].self, forKey: .tags), maxLineBytes: try c.decodeIfPresent(Int.self, forKey: .maxLineBytes))
        if let maxLineBytes, maxLineBytes < 1 {
            throw ChatbotTesterError(.invalidConfig, "must be at least 1", location: SourceLocation(field: "maxLineBytes"))
        }
    }
}
