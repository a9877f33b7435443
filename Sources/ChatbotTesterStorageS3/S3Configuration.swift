import ChatbotTesterCore
import Foundation

/// `s3://bucket/prefix`: where a store lives. The one parser of these URLs.
public struct S3Location: Sendable, Hashable, CustomStringConvertible {
    public var bucket: String
    /// The key prefix, without leading slash; empty or ending in `/`.
    public var prefix: String

    public init(bucket: String, prefix: String = "") {
        self.bucket = bucket
        var prefix = prefix
        while prefix.hasPrefix("/") { prefix.removeFirst() }
        if !prefix.isEmpty, !prefix.hasSuffix("/") { prefix += "/" }
        self.prefix = prefix
    }

    /// Whether `text` is an `s3://` URL (and not a local path).
    public static func isS3URL(_ text: String) -> Bool { text.lowercased().hasPrefix("s3://") }

    /// Parses `s3://bucket[/prefix]`; errors name the text.
    public init(parsing text: String) throws {
        guard S3Location.isS3URL(text) else {
            throw ChatbotTesterError(.invalidConfig, "'\(text)' is not an s3:// URL", location: SourceLocation(source: text))
        }
        let rest = text.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        let prefix = String(rest.dropFirst(bucket.count))
        guard S3Location.isValidBucket(bucket) else {
            throw ChatbotTesterError(
                .invalidConfig, "'\(bucket)' in '\(text)' is not a valid bucket name (3-63 characters: a-z, 0-9, '.', '-')",
                location: SourceLocation(source: text))
        }
        guard !prefix.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }), !prefix.contains("//") else {
            throw ChatbotTesterError(.invalidConfig, "'\(text)' has an empty, '.' or '..' path segment", location: SourceLocation(source: text))
        }
        self.init(bucket: bucket, prefix: prefix)
    }

    /// S3's bucket naming rules (the portable subset).
    public static func isValidBucket(_ name: String) -> Bool {
        guard (3...63).contains(name.count), let first = name.first, let last = name.last else { return false }
        let allowed = name.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "." || $0 == "-" }
        return allowed && first.isLetterOrDigitASCII && last.isLetterOrDigitASCII && !name.contains("..")
    }

    /// The full object key for a store key.
    public func objectKey(_ key: String) -> String { prefix + key }

    public var description: String { "s3://\(bucket)/\(prefix)" }

    /// `s3://bucket/key` for messages.
    public func url(ofObject objectKey: String) -> String { "s3://\(bucket)/\(objectKey)" }
}

extension Character {
    fileprivate var isLetterOrDigitASCII: Bool { (self >= "a" && self <= "z") || (self >= "0" && self <= "9") }
}

/// How the bucket appears in request URLs.
public enum S3AddressingStyle: String, Sendable, Codable {
    /// `https://bucket.s3.region.amazonaws.com/key` on AWS, path-style on a custom endpoint.
    case auto
    /// `https://endpoint/bucket/key` (MinIO, Ceph and most self-hosted servers).
    case path
    /// `https://bucket.endpoint/key`.
    case virtualHost = "virtual"
}

/// Endpoint, region, addressing and tuning of an S3 store.
public struct S3Configuration: Sendable {
    public var region: String
    /// A custom endpoint (`http://127.0.0.1:9000`, `https://<account>.r2.cloudflarestorage.com`);
    /// `nil` is AWS's regional endpoint.
    public var endpoint: URL?
    public var addressing: S3AddressingStyle
    /// Objects at least this large are uploaded in parts.
    public var multipartThreshold: Int
    /// Bytes per part (S3's minimum is 5 MiB for every part but the last).
    public var partSize: Int
    /// Parts uploaded at once (memory is about `partSize × partConcurrency`).
    public var partConcurrency: Int
    /// Attempts per request for 5xx, throttling (503 SlowDown, 429) and connection failures.
    public var maxAttempts: Int
    /// The first retry's delay; doubling with jitter up to `maxRetryDelay`, or the server's `Retry-After`.
    public var baseRetryDelay: Double
    public var maxRetryDelay: Double
    /// Per-request deadline in seconds.
    public var requestTimeout: Double
    /// Buffered journal bytes that trigger writing a part object before `sync()`.
    public var journalFlushThreshold: Int
    /// Whether request bodies are hashed into the signature. `false` sends `UNSIGNED-PAYLOAD` for
    /// bodies of 1 MiB and more over HTTPS (TLS protects them), as AWS's SDKs do; plain HTTP is
    /// always signed.
    public var signLargePayloadsOverHTTPS: Bool = false

    public init(
        region: String = "us-east-1", endpoint: URL? = nil, addressing: S3AddressingStyle = .auto,
        multipartThreshold: Int = 16 << 20, partSize: Int = 8 << 20, partConcurrency: Int = 4, maxAttempts: Int = 5,
        baseRetryDelay: Double = 0.2, maxRetryDelay: Double = 10, requestTimeout: Double = 300, journalFlushThreshold: Int = 8 << 20
    ) {
        self.region = region
        self.endpoint = endpoint
        self.addressing = addressing
        self.multipartThreshold = multipartThreshold
        self.partSize = partSize
        self.partConcurrency = partConcurrency
        self.maxAttempts = maxAttempts
        self.baseRetryDelay = baseRetryDelay
        self.maxRetryDelay = maxRetryDelay
        self.requestTimeout = requestTimeout
        self.journalFlushThreshold = journalFlushThreshold
    }

    /// Region and endpoint as AWS's own tools find them: `AWS_REGION`, `AWS_DEFAULT_REGION`, the
    /// profile's `region`; `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`, then the profile's
    /// `endpoint_url` (none of them when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`).
    public static func fromEnvironment(_ environment: AWSEnvironment = AWSEnvironment()) throws -> S3Configuration {
        let profile = (try? environment.profile()) ?? nil
        var configuration = S3Configuration()
        configuration.region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? profile?["region"] ?? "us-east-1"
        if let text = endpointURL(service: "S3", profileService: "s3", environment: environment, profile: profile) {
            configuration.endpoint = try parseEndpoint(text)
        }
        return configuration
    }

    static func endpointURL(service: String, profileService: String, environment: AWSEnvironment, profile: [String: String]?) -> String? {
        guard environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]?.lowercased() != "true" else { return nil }
        return environment["AWS_ENDPOINT_URL_\(service)"] ?? environment["AWS_ENDPOINT_URL"]
            ?? profile?["\(profileService).endpoint_url"] ?? profile?["endpoint_url"]
    }

    static func parseEndpoint(_ text: String) throws -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil,
            url.user == nil, url.query == nil
        else {
            throw ChatbotTesterError(
                .invalidConfig, "S3 endpoint '\(text)' must be an http(s) URL without credentials or query", location: SourceLocation(source: "AWS_ENDPOINT_URL_S3"))
        }
        return url
    }
}
