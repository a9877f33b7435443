import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterStorageS3

/// Store URLs: paths and `file://` open a file store, `s3://` an S3 store; anything else is a clear error.
struct ArtifactStoreLocationTests {
    @Test func pathsAndFileURLsOpenAFileStore() throws {
        #expect(try ArtifactStoreLocation(parsing: "/tmp/run").description == "/tmp/run")
        #expect(try ArtifactStoreLocation(parsing: "file:///tmp/run").description == "/tmp/run")
        #expect(try ArtifactStoreLocation(parsing: "file://localhost/tmp/run").description == "/tmp/run")
        #expect(try ArtifactStoreLocation(parsing: "runs/./x", currentDirectory: "/work").description == "/work/runs/x")
        let store = try ArtifactStoreLocation.open("file:///tmp/run", environment: [:])
        #expect((store as? FileArtifactStore)?.root.path == "/tmp/run")
    }

    @Test func s3URLsOpenAnS3StoreConfiguredFromTheEnvironment() throws {
        #expect(try ArtifactStoreLocation(parsing: "s3://my-bucket/runs/n1") == .s3(S3Location(bucket: "my-bucket", prefix: "runs/n1")))
        let store = try ArtifactStoreLocation.open(
            "s3://my-bucket/runs/n1", environment: ["AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000", "AWS_REGION": "eu-west-1"])
        let s3 = try #require(store as? S3ArtifactStore)
        #expect(s3.location == S3Location(bucket: "my-bucket", prefix: "runs/n1/"))
        #expect(s3.client.configuration.endpoint?.absoluteString == "http://127.0.0.1:9000")
        #expect(s3.client.configuration.region == "eu-west-1")
    }

    @Test func badURLsAreConfigErrorsNamingTheText() {
        for text in ["", "gs://bucket/x", "http://host/x", "file://otherhost/x", "file:///x?y=1", "s3://Bad_Bucket/x", "s3://bucket/a/../b"] {
            do {
                _ = try ArtifactStoreLocation(parsing: text)
                Issue.record("'\(text)' was accepted")
            } catch let error as ChatbotTesterError {
                #expect(error.code == .invalidConfig)
                #expect(text.isEmpty || error.description.contains(text) || error.description.contains("Bad_Bucket"), "\(error)")
            } catch {
                Issue.record("'\(text)': \(error)")
            }
        }
        #expect(throws: ChatbotTesterError.self) {
            _ = try ArtifactStoreLocation.open("s3://my-bucket/x", environment: ["AWS_ENDPOINT_URL_S3": "ftp://nope"])
        }
    }
}
