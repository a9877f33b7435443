import ChatbotTesterCore
import ChatbotTesterHTTP
import Foundation

/// Where a store lives, as a user writes it on a command line or in a config: `s3://bucket/prefix`,
/// `file:///absolute/path`, or a plain (absolute or relative) path. The one resolver of store URLs.
public enum ArtifactStoreLocation: Sendable, Hashable, CustomStringConvertible {
    /// A directory on the local file system.
    case file(URL)
    /// A bucket and key prefix on an S3-compatible server.
    case s3(S3Location)

    /// Parses a store URL. Relative paths are resolved against `currentDirectory`.
    ///
    /// Errors (`invalid_config`, naming the text): an empty string, a scheme other than `s3://` or
    /// `file://`, a `file://` URL with a host other than `localhost` or a query, an invalid bucket.
    public init(parsing text: String, currentDirectory: String = FileManager.default.currentDirectoryPath) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else {
            throw ChatbotTesterError(.invalidConfig, "the store URL is empty (use s3://bucket/prefix, file:///path or a directory path)")
        }
        if S3Location.isS3URL(trimmed) {
            self = .s3(try S3Location(parsing: trimmed))
            return
        }
        if trimmed.lowercased().hasPrefix("file://") {
            guard let url = URL(string: trimmed), url.query == nil, url.fragment == nil,
                url.host == nil || url.host == "" || url.host == "localhost", !url.path.isEmpty
            else {
                throw ChatbotTesterError(
                    .invalidConfig, "'\(text)' is not a usable file:// URL (use file:///absolute/path)", location: SourceLocation(source: text))
            }
            self = .file(URL(fileURLWithPath: url.path).standardizedFileURL)
            return
        }
        if let schemeEnd = trimmed.range(of: "://") {
            let scheme = trimmed[..<schemeEnd.lowerBound]
            throw ChatbotTesterError(
                .invalidConfig, "store URL '\(text)' has the unsupported scheme '\(scheme)' (use s3://bucket/prefix, file:///path or a directory path)",
                location: SourceLocation(source: text))
        }
        let path = trimmed.hasPrefix("/") ? trimmed : currentDirectory + "/" + trimmed
        self = .file(URL(fileURLWithPath: path).standardizedFileURL)
    }

    /// Whether `text` names a remote store (not the local file system).
    public static func isRemote(_ text: String) -> Bool { S3Location.isS3URL(text.trimmingCharacters(in: .whitespaces)) }

    public var description: String {
        switch self {
        case .file(let url): return url.path
        case .s3(let location): return location.description
        }
    }

    /// Opens the store: a `FileArtifactStore` rooted at the directory, or an `S3ArtifactStore`
    /// configured and credentialed from `environment` as AWS's own tools are (region, endpoint
    /// `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, key variables, profiles, web identity).
    /// Opening does no I/O; credential errors surface on the first request, naming the object.
    public func open(environment: [String: String] = ProcessInfo.processInfo.environment, httpClient: HTTPClient = .shared) throws
        -> any ArtifactStore
    {
        switch self {
        case .file(let url):
            return FileArtifactStore(root: url)
        case .s3(let location):
            return try S3ArtifactStore(url: location.description, environment: AWSEnvironment(variables: environment), httpClient: httpClient)
        }
    }

    /// Parses `text` and opens the store it names (see ``init(parsing:currentDirectory:)`` and
    /// ``open(environment:httpClient:)``).
    public static func open(
        _ text: String, environment: [String: String] = ProcessInfo.processInfo.environment, httpClient: HTTPClient = .shared
    ) throws -> any ArtifactStore {
        try ArtifactStoreLocation(parsing: text).open(environment: environment, httpClient: httpClient)
    }
}
