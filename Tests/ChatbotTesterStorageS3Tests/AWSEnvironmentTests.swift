import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterStorageS3

struct AWSEnvironmentTests {
    @Test func parsesS3URLs() throws {
        let location = try S3Location(parsing: "s3://my-bucket/runs/night")
        #expect(location.bucket == "my-bucket")
        #expect(location.prefix == "runs/night/")
        #expect(try S3Location(parsing: "s3://my-bucket").prefix == "")
        #expect(try S3Location(parsing: "s3://my-bucket/").prefix == "")
        #expect(location.objectKey("a.json") == "runs/night/a.json")
        for bad in ["s3://", "s3://UPPER/x", "s3://ab/x", "s3://b_b_b/x", "s3://bucket/a/../b", "s3://bucket//x", "https://bucket/x", "/tmp/x"] {
            #expect(throws: ChatbotTesterError.self, "\(bad)") { try S3Location(parsing: bad) }
        }
        #expect(S3Location.isS3URL("S3://b/x"))
        #expect(!S3Location.isS3URL("/data/s3://x"))
    }

    @Test func endpointAndRegionAsAWSToolsFindThem() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("aws-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        try "[profile minio]\nregion = eu-central-1\nendpoint_url = http://profile:9000\n".write(
            to: home.appendingPathComponent(".aws/config"), atomically: true, encoding: .utf8)
        func configuration(_ variables: [String: String]) throws -> S3Configuration {
            try S3Configuration.fromEnvironment(AWSEnvironment(variables: variables, home: home.path))
        }
        #expect(try configuration([:]).endpoint == nil)
        #expect(try configuration([:]).region == "us-east-1")
        #expect(try configuration(["AWS_ENDPOINT_URL": "http://all:1"]).endpoint?.absoluteString == "http://all:1")
        #expect(try configuration(["AWS_ENDPOINT_URL": "http://all:1", "AWS_ENDPOINT_URL_S3": "http://s3:2"]).endpoint?.absoluteString == "http://s3:2")
        #expect(try configuration(["AWS_ENDPOINT_URL_S3": "http://s3:2", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"]).endpoint == nil)
        #expect(try configuration(["AWS_PROFILE": "minio"]).endpoint?.absoluteString == "http://profile:9000")
        #expect(try configuration(["AWS_PROFILE": "minio"]).region == "eu-central-1")
        #expect(try configuration(["AWS_PROFILE": "minio", "AWS_REGION": "ap-south-1"]).region == "ap-south-1")
        #expect(try configuration(["AWS_DEFAULT_REGION": "sa-east-1"]).region == "sa-east-1")
        #expect(throws: ChatbotTesterError.self) { try configuration(["AWS_ENDPOINT_URL_S3": "ftp://x"]) }
        #expect(throws: ChatbotTesterError.self) { try configuration(["AWS_ENDPOINT_URL_S3": "http://user:pw@x"]) }
    }

    @Test func addressingStyles() {
        let credentials = StaticAWSCredentialsProvider(AWSCredentials(accessKeyId: "a", secretAccessKey: "b"))
        let aws = S3Client(configuration: S3Configuration(region: "eu-west-1"), credentials: credentials)
        #expect(aws.target(bucket: "bkt", key: "a b/c", query: []).url == "https://bkt.s3.eu-west-1.amazonaws.com/a%20b/c")
        #expect(aws.target(bucket: "dotted.bucket", key: "k", query: []).url == "https://s3.eu-west-1.amazonaws.com/dotted.bucket/k")
        let custom = S3Client(configuration: S3Configuration(endpoint: URL(string: "http://127.0.0.1:9000")!), credentials: credentials)
        let target = custom.target(bucket: "bkt", key: "k", query: [("uploads", "")])
        #expect(target.url == "http://127.0.0.1:9000/bkt/k?uploads=")
        #expect(target.host == "127.0.0.1:9000")
        let virtual = S3Client(
            configuration: S3Configuration(endpoint: URL(string: "https://acct.r2.example.com")!, addressing: .virtualHost), credentials: credentials)
        #expect(virtual.target(bucket: "bkt", key: nil, query: [("list-type", "2")]).url == "https://bkt.acct.r2.example.com/?list-type=2")
    }

    @Test func credentialChainOrderAndErrors() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("aws-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        try "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = default-secret\n\n[ci]\naws_access_key_id = AKIACI\naws_secret_access_key = ci-secret\naws_session_token = ci-token\n"
            .write(to: home.appendingPathComponent(".aws/credentials"), atomically: true, encoding: .utf8)
        func resolve(_ variables: [String: String]) async throws -> AWSCredentials {
            try await AWSCredentialChain(environment: AWSEnvironment(variables: variables, home: home.path)).credentials()
        }
        #expect(try await resolve([:]).accessKeyId == "AKIADEFAULT")
        let ci = try await resolve(["AWS_PROFILE": "ci"])
        #expect(ci.accessKeyId == "AKIACI")
        #expect(ci.sessionToken == "ci-token")
        let env = try await resolve(["AWS_PROFILE": "ci", "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "env-token"])
        #expect(env.accessKeyId == "AKIAENV")
        #expect(env.sessionToken == "env-token")
        await #expect(throws: ChatbotTesterError.self) { _ = try await resolve(["AWS_ACCESS_KEY_ID": "AKIAENV"]) }
        do {
            _ = try await resolve(["AWS_PROFILE": "nope"])
            Issue.record("an unknown profile resolved")
        } catch let error as ChatbotTesterError {
            #expect(error.message.contains("'nope'"))
        }
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("aws-empty-\(UUID().uuidString)")
        do {
            _ = try await AWSCredentialChain(environment: AWSEnvironment(variables: [:], home: empty.path)).credentials()
            Issue.record("credentials from nowhere")
        } catch let error as ChatbotTesterError {
            #expect(error.code == .missingSecret)
            #expect(error.message.contains("AWS_ACCESS_KEY_ID"))
        }
    }

    @Test func missingCredentialsNameTheObject() async throws {
        let info = try await MotoServer.shared.start()
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("aws-empty-\(UUID().uuidString)")
        let store = try S3ArtifactStore(
            url: "s3://\(info.bucket)/nocreds", environment: AWSEnvironment(variables: ["AWS_ENDPOINT_URL_S3": info.endpoint], home: empty.path))
        do {
            _ = try await store.read("runs/x.json")
            Issue.record("read without credentials")
        } catch let error as ChatbotTesterError {
            #expect(error.code == .missingSecret)
            #expect(error.description.contains("s3://\(info.bucket)/nocreds/runs/x.json"))
        }
    }

    @Test func environmentAndProfileCredentialsReachTheServer() async throws {
        let info = try await MotoServer.shared.start()
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("aws-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        try "[nightly]\naws_access_key_id = \(info.accessKeyId)\naws_secret_access_key = \(info.secretAccessKey)\n"
            .write(to: home.appendingPathComponent(".aws/credentials"), atomically: true, encoding: .utf8)
        try "[profile nightly]\nregion = us-east-1\nendpoint_url = \(info.endpoint)\n"
            .write(to: home.appendingPathComponent(".aws/config"), atomically: true, encoding: .utf8)
        let viaProfile = try S3ArtifactStore(url: "s3://\(info.bucket)/profile-\(UUID().uuidString)", environment: AWSEnvironment(variables: ["AWS_PROFILE": "nightly"], home: home.path))
        try await viaProfile.write(Data("p".utf8), to: "k")
        #expect(try await viaProfile.read("k") == Data("p".utf8))
        let viaEnvironment = try S3ArtifactStore(
            url: "s3://\(info.bucket)/env-\(UUID().uuidString)",
            environment: AWSEnvironment(
                variables: ["AWS_ACCESS_KEY_ID": info.accessKeyId, "AWS_SECRET_ACCESS_KEY": info.secretAccessKey, "AWS_ENDPOINT_URL": info.endpoint],
                home: home.path))
        try await viaEnvironment.write(Data("e".utf8), to: "k")
        #expect(try await viaEnvironment.read("k") == Data("e".utf8))
    }

    @Test func webIdentityTokenIsExchangedWithSTS() async throws {
        let info = try await MotoServer.shared.start()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("irsa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tokenFile = dir.appendingPathComponent("token")
        try (info.webIdentityToken + "\n").write(to: tokenFile, atomically: true, encoding: .utf8)
        let variables = [
            "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile.path, "AWS_ROLE_ARN": info.roleArn, "AWS_ENDPOINT_URL_STS": info.proxy + "/__sts",
            "AWS_ENDPOINT_URL_S3": info.endpoint,
        ]
        let store = try S3ArtifactStore(url: "s3://\(info.bucket)/irsa-\(UUID().uuidString)", environment: AWSEnvironment(variables: variables, home: dir.path))
        let credentials = try await store.client.credentials.credentials()
        let issued = try await MotoServer.shared.stats().sessionToken
        #expect(!issued.isEmpty)
        #expect(credentials.sessionToken == issued)
        #expect(credentials.source.contains(info.roleArn))
        try await store.write(Data("w".utf8), to: "k")
        #expect(try await store.read("k") == Data("w".utf8))
        // A bad token is refused, and the message names the role, not the token.
        try "wrong-token-value".write(to: tokenFile, atomically: true, encoding: .utf8)
        let refused = try S3ArtifactStore(url: "s3://\(info.bucket)/irsa", environment: AWSEnvironment(variables: variables, home: dir.path))
        do {
            _ = try await refused.read("k")
            Issue.record("a wrong web identity token worked")
        } catch let error as ChatbotTesterError {
            #expect(error.description.contains(info.roleArn))
            #expect(error.description.contains("InvalidIdentityToken"))
            #expect(!error.description.contains("wrong-token-value"))
        }
    }
}
