import ChatbotTesterCore
import Foundation

/// An AWS access key pair, with a session token for temporary credentials.
///
/// Its `description` never shows the secret or the token.
public struct AWSCredentials: Sendable, Hashable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// When temporary credentials stop working.
    public var expiration: Date?
    /// Where they came from, for messages (`environment`, `profile default`, `web identity`).
    public var source: String

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil, source: String = "static") {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
        self.source = source
    }

    public var description: String { "AWSCredentials(\(accessKeyId), from \(source))" }

    /// The values that must never reach a file or a message.
    public var secretValues: [String] { [secretAccessKey] + (sessionToken.map { [$0] } ?? []) }
}

/// Supplies credentials for each request; implementations cache and refresh.
public protocol AWSCredentialsProvider: Sendable {
    func credentials() async throws -> AWSCredentials
}

/// Fixed credentials.
public struct StaticAWSCredentialsProvider: AWSCredentialsProvider {
    public let value: AWSCredentials
    public init(_ value: AWSCredentials) { self.value = value }
    public func credentials() async throws -> AWSCredentials { value }
}

/// The variables and files AWS's own tools read, captured once so that tests pass their own.
public struct AWSEnvironment: Sendable {
    public var variables: [String: String]
    /// The home directory for `~/.aws/credentials` and `~/.aws/config`.
    public var home: String

    public init(variables: [String: String] = ProcessInfo.processInfo.environment, home: String? = nil) {
        self.variables = variables
        self.home = home ?? variables["HOME"] ?? NSHomeDirectory()
    }

    /// A non-empty variable.
    public subscript(name: String) -> String? {
        guard let value = variables[name], !value.isEmpty else { return nil }
        return value
    }

    /// `AWS_PROFILE`, else `default`.
    public var profileName: String { self["AWS_PROFILE"] ?? self["AWS_DEFAULT_PROFILE"] ?? "default" }

    public var credentialsFile: String { self["AWS_SHARED_CREDENTIALS_FILE"] ?? home + "/.aws/credentials" }
    public var configFile: String { self["AWS_CONFIG_FILE"] ?? home + "/.aws/config" }

    /// The selected profile's settings: the credentials file's `[name]` over the config file's
    /// `[profile name]` (`[default]` for the default profile).
    public func profile() throws -> [String: String]? {
        let name = profileName
        let config = try AWSConfigFile.load(path: configFile)
        let credentials = try AWSConfigFile.load(path: credentialsFile)
        let fromConfig = config?[name == "default" ? "default" : "profile \(name)"] ?? (name == "default" ? nil : config?[name])
        let fromCredentials = credentials?[name]
        if fromConfig == nil, fromCredentials == nil { return nil }
        return (fromConfig ?? [:]).merging(fromCredentials ?? [:]) { _, credentialsValue in credentialsValue }
    }
}

/// The usual credential chain, in the order AWS's SDKs use: `AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`; a web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` +
/// `AWS_ROLE_ARN`, as EKS IRSA sets them) exchanged with STS; the profile (`AWS_PROFILE`) in
/// `~/.aws/credentials` and `~/.aws/config`. Never from a job config by value.
public actor AWSCredentialChain: AWSCredentialsProvider {
    private let environment: AWSEnvironment
    private let stsClient: WebIdentityExchange?
    private var cached: AWSCredentials?

    /// - Parameter webIdentity: exchanges a web identity token; `nil` disables that step.
    public init(environment: AWSEnvironment = AWSEnvironment(), webIdentity: WebIdentityExchange? = nil) {
        self.environment = environment
        self.stsClient = webIdentity
    }

    public func credentials() async throws -> AWSCredentials {
        if let cached, cached.expiration.map({ $0.timeIntervalSinceNow > 300 }) ?? true { return cached }
        let fresh = try await resolve()
        cached = fresh
        return fresh
    }

    private func resolve() async throws -> AWSCredentials {
        let id = environment["AWS_ACCESS_KEY_ID"]
        let secret = environment["AWS_SECRET_ACCESS_KEY"]
        switch (id, secret) {
        case (let id?, let secret?):
            return AWSCredentials(accessKeyId: id, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"], source: "environment")
        case (.some, nil):
            throw ChatbotTesterError(.missingSecret, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", location: SourceLocation(source: "AWS_SECRET_ACCESS_KEY"))
        case (nil, .some):
            throw ChatbotTesterError(.missingSecret, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not", location: SourceLocation(source: "AWS_ACCESS_KEY_ID"))
        case (nil, nil):
            break
        }
        if let tokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], let roleArn = environment["AWS_ROLE_ARN"] {
            return try await assume(roleArn: roleArn, tokenFile: tokenFile, sessionName: environment["AWS_ROLE_SESSION_NAME"])
        }
        let profile = try environment.profile()
        if let profile {
            let name = environment.profileName
            if let id = profile["aws_access_key_id"], let secret = profile["aws_secret_access_key"] {
                return AWSCredentials(accessKeyId: id, secretAccessKey: secret, sessionToken: profile["aws_session_token"], source: "profile \(name)")
            }
            if let tokenFile = profile["web_identity_token_file"], let roleArn = profile["role_arn"] {
                return try await assume(roleArn: roleArn, tokenFile: tokenFile, sessionName: profile["role_session_name"])
            }
            throw ChatbotTesterError(
                .missingSecret, "AWS profile '\(name)' has no aws_access_key_id/aws_secret_access_key",
                location: SourceLocation(source: environment.credentialsFile))
        }
        if environment["AWS_PROFILE"] != nil {
            throw ChatbotTesterError(
                .missingSecret, "AWS profile '\(environment.profileName)' is not in \(environment.credentialsFile) or \(environment.configFile)",
                location: SourceLocation(source: "AWS_PROFILE"))
        }
        throw ChatbotTesterError(
            .missingSecret,
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE with \(environment.credentialsFile), or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN")
    }

    private func assume(roleArn: String, tokenFile: String, sessionName: String?) async throws -> AWSCredentials {
        guard let stsClient else {
            throw ChatbotTesterError(.missingSecret, "web identity credentials need an STS client", location: SourceLocation(source: tokenFile))
        }
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ChatbotTesterError(.missingSecret, "cannot read the web identity token", location: SourceLocation(source: tokenFile), cause: error)
        }
        return try await stsClient.assumeRole(
            roleArn: roleArn, token: token, sessionName: sessionName ?? "chatbot-tester-\(Int(Date().timeIntervalSince1970))")
    }
}

/// Reads AWS's INI-style shared files: `[section]` headers and `key = value` lines; nested
/// (indented) sub-sections are folded into `parent.key`.
public enum AWSConfigFile {
    /// Sections by name, or `nil` when the file does not exist.
    public static func load(path: String) throws -> [String: [String: String]]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ChatbotTesterError(.invalidConfig, "cannot read \(path)", location: SourceLocation(source: path), cause: error)
        }
        return parse(text)
    }

    public static func parse(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        var parent: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let indented = rawLine.first == " " || rawLine.first == "\t"
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                current = name
                parent = nil
                if sections[name] == nil { sections[name] = [:] }
                continue
            }
            guard let section = current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if indented, let parent {
                sections[section]?["\(parent).\(key)"] = value
            } else if value.isEmpty {
                parent = key
            } else {
                parent = nil
                sections[section]?[key] = value
            }
        }
        return sections
    }
}
