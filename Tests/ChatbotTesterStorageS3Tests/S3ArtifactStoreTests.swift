import ChatbotTesterCore
import ChatbotTesterTesting
import Foundation
import Testing

@testable import ChatbotTesterStorageS3

/// The S3 store against moto (IAM authentication on) on loopback.
struct S3ArtifactStoreTests {
    @Test func roundTripListExistsDelete() async throws {
        let (store, _) = try await makeStore()
        try await store.write(Data("hello\n".utf8), to: "runs/a/results.jsonl")
        try await store.writeJSON(["x": 1], to: "runs/a/summary.json")
        try await store.write(Data("odd key".utf8), to: "runs/a/with space+plus&amp.txt")
        #expect(try await store.read("runs/a/results.jsonl") == Data("hello\n".utf8))
        #expect(try await store.readJSON([String: Int].self, from: "runs/a/summary.json") == ["x": 1])
        #expect(try await store.read("runs/a/with space+plus&amp.txt") == Data("odd key".utf8))
        #expect(await store.exists("runs/a/results.jsonl"))
        #expect(!(await store.exists("runs/a/nothing")))
        #expect(try await store.list(prefix: "runs/") == ["runs/a/results.jsonl", "runs/a/summary.json", "runs/a/with space+plus&amp.txt"])
        #expect(try await store.list(prefix: "runs/a/s") == ["runs/a/summary.json"])
        try await store.write(Data("replaced\n".utf8), to: "runs/a/results.jsonl")
        #expect(try await store.read("runs/a/results.jsonl") == Data("replaced\n".utf8))
        try await store.delete("runs/a/results.jsonl")
        try await store.delete("runs/a/results.jsonl")  // absent: no error
        #expect(!(await store.exists("runs/a/results.jsonl")))
        await #expect(throws: ChatbotTesterError.self) { try await store.write(Data(), to: "../escape") }
    }

    @Test func missingKeyNamesBucketAndKey() async throws {
        let (store, info) = try await makeStore()
        let url = "s3://\(info.bucket)/\(store.location.prefix)runs/none.jsonl"
        do {
            _ = try await store.read("runs/none.jsonl")
            Issue.record("read of a missing key succeeded")
        } catch let error as ChatbotTesterError {
            #expect(error.status == 404)
            #expect(error.description.contains(url))
        }
        var failed: ChatbotTesterError?
        do {
            for try await _ in store.lines(of: "runs/none.jsonl") {}
        } catch let error as ChatbotTesterError { failed = error }
        #expect(failed?.description.contains(url) == true)
    }

    @Test func conditionalCreateHasOneWinner() async throws {
        let (store, _) = try await makeStore()
        #expect(try await store.createIfAbsent(Data("first".utf8), at: "claims/0"))
        #expect(try await !store.createIfAbsent(Data("second".utf8), at: "claims/0"))
        #expect(try await store.read("claims/0") == Data("first".utf8))
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<8 { group.addTask { try await store.createIfAbsent(Data("w\(index)".utf8), at: "claims/1") } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
    }

    @Test func rangedReads() async throws {
        let (store, _) = try await makeStore()
        let data = patternData(count: 10_000)
        try await store.write(data, to: "blob")
        #expect(try await store.read("blob", range: 100..<250) == data.subdata(in: 100..<250))
        #expect(try await store.read("blob", range: 9_990..<20_000) == data.subdata(in: 9_990..<10_000))
        #expect(try await store.read("blob", range: 20_000..<20_010) == Data())
        await #expect(throws: ChatbotTesterError.self) { _ = try await store.read("absent", range: 0..<10) }
    }

    @Test func journalIsPartObjectsReadInOrder() async throws {
        let (store, info) = try await makeStore()
        let first = try await store.openJournal("runs/r/journal.jsonl")
        for index in 1...3 { try await first.append(Data("{\"n\":\(index)}".utf8)) }
        try await first.sync()
        try await first.append(Data("{\"n\":4}".utf8))
        try await first.close()
        // A restarted writer (a new attempt) appends after the first one's lines.
        let second = try await store.openJournal("runs/r/journal.jsonl")
        try await second.append(Data("{\"n\":5}".utf8))
        try await second.sync()
        try await second.append(Data("{\"n\":6}".utf8))
        try await second.close()
        var seen: [(Int, String)] = []
        for try await (line, text) in store.lines(of: "runs/r/journal.jsonl") { seen.append((line, String(text))) }
        #expect(seen.map(\.0) == [1, 2, 3, 4, 5, 6])
        #expect(seen.map(\.1) == (1...6).map { "{\"n\":\($0)}" })
        #expect(try await store.read("runs/r/journal.jsonl") == Data((1...6).map { "{\"n\":\($0)}\n" }.joined().utf8))
        #expect(await store.exists("runs/r/journal.jsonl"))
        #expect(try await store.list(prefix: "runs/r/") == ["runs/r/journal.jsonl"])
        // Four part objects: two syncs of each writer.
        let parts = try await store.client.listObjects(bucket: info.bucket, prefix: store.location.prefix + "runs/r/")
        #expect(parts.count == 4)
        #expect(parts.allSatisfy { $0.contains("journal.jsonl.parts/") })
        try await store.delete("runs/r/journal.jsonl")
        #expect(try await store.client.listObjects(bucket: info.bucket, prefix: store.location.prefix + "runs/r/").isEmpty)
    }

    @Test func streamedLinesSkipATornLastLine() async throws {
        let (store, _) = try await makeStore()
        let text = (1...2_000).map { "line \($0)" }.joined(separator: "\n") + "\ntorn"
        try await store.write(Data(text.utf8), to: "lines.jsonl")
        var count = 0
        var last = ""
        for try await (line, text) in store.lines(of: "lines.jsonl") {
            count += 1
            #expect(line == count)
            last = String(text)
        }
        #expect(count == 2_000)
        #expect(last == "line 2000")
    }

    @Test func multipartUploadOfAFileAndOfData() async throws {
        let (store, _) = try await makeStore { configuration in
            configuration.partSize = 5 << 20
            configuration.multipartThreshold = 5 << 20
        }
        let size = 12 << 20 + 12_345  // three parts: 5 MiB, 5 MiB, the rest
        let data = patternData(count: size, seed: 7)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("s3-multipart-\(UUID().uuidString)")
        try data.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        try await store.write(contentsOf: file, to: "big/file.bin")
        #expect(try await store.read("big/file.bin") == data)
        #expect(try await store.read("big/file.bin", range: (5 << 20) - 10..<(5 << 20) + 10) == data.subdata(in: (5 << 20) - 10..<(5 << 20) + 10))
        try await store.write(data, to: "big/data.bin")
        #expect(sha256Hex(try await store.read("big/data.bin")) == sha256Hex(data))
    }

    @Test func wrongSecretIsRefusedByTheServer() async throws {
        let (good, info) = try await makeStore()
        try await good.write(Data("x".utf8), to: "k")
        let wrongSecret = "not-the-right-secret-value"
        let (bad, _) = try await makeStore(secret: wrongSecret)
        let badAtSameKey = S3ArtifactStore(location: good.location, client: bad.client)
        do {
            _ = try await badAtSameKey.read("k")
            Issue.record("a wrong signature was accepted")
        } catch let error as ChatbotTesterError {
            #expect(error.status == 403)
            #expect(error.code == .missingSecret)
            #expect(error.description.contains("SignatureDoesNotMatch"))
            #expect(error.description.contains("s3://\(info.bucket)/\(good.location.prefix)k"))
            #expect(!error.description.contains(wrongSecret))
            #expect(!error.description.contains(info.secretAccessKey))
        }
        let (unknown, _) = try await makeStore(accessKey: "AKIAUNKNOWNKEY000000")
        do {
            try await unknown.write(Data("x".utf8), to: "k")
            Issue.record("an unknown access key was accepted")
        } catch let error as ChatbotTesterError {
            #expect(error.description.contains("InvalidAccessKeyId"))
            #expect(error.description.contains("credentials (from test)"))
        }
    }

    @Test func noSecretValueReachesTheStore() async throws {
        let (store, info) = try await makeStore()
        try await store.write(Data("a\n".utf8), to: "one")
        let journal = try await store.openJournal("j")
        try await journal.append(Data("b".utf8))
        try await journal.close()
        try await store.writeJSON(["k": "v"], to: "two.json")
        for key in try await store.client.listObjects(bucket: info.bucket, prefix: store.location.prefix) {
            guard let response = try await store.client.getObject(bucket: info.bucket, key: key) else { continue }
            let text = String(decoding: try await response.collect(upTo: 1 << 20), as: UTF8.self)
            #expect(!text.contains(info.secretAccessKey))
            #expect(!key.contains(info.secretAccessKey))
        }
    }
}

/// Tests that drive the fault-injecting proxy: one at a time.
@Suite(.serialized) struct S3ProxyTests {
    @Test func throttlingIsRetried() async throws {
        let (store, _) = try await makeStore(through: true)
        try await MotoServer.shared.injectFaults(count: 2)
        try await store.write(Data("after two 503 SlowDown".utf8), to: "throttled")
        let stats = try await MotoServer.shared.stats()
        #expect(stats.faulted == 2)
        #expect(stats.forwarded == 1)
        #expect(try await store.read("throttled") == Data("after two 503 SlowDown".utf8))
    }

    @Test func persistentThrottlingGivesUpWithAClearError() async throws {
        let (store, info) = try await makeStore(through: true) { $0.maxAttempts = 3 }
        try await MotoServer.shared.injectFaults(count: 10)
        do {
            try await store.write(Data("x".utf8), to: "never")
            Issue.record("the write succeeded through a throttling proxy")
        } catch let error as ChatbotTesterError {
            #expect(error.status == 503)
            #expect(error.description.contains("SlowDown"))
            #expect(error.description.contains("s3://\(info.bucket)/\(store.location.prefix)never"))
            #expect(error.description.contains("3 attempts"))
        }
        #expect(try await MotoServer.shared.stats().requests == 3)
        try await MotoServer.shared.injectFaults(count: 0)
    }

    @Test func serverErrorsAreRetriedButClientErrorsAreNot() async throws {
        let (store, _) = try await makeStore(through: true)
        try await MotoServer.shared.injectFaults(count: 1, status: 500, code: "InternalError")
        try await store.write(Data("x".utf8), to: "after-500")
        #expect(try await MotoServer.shared.stats().requests == 2)
        try await MotoServer.shared.injectFaults(count: 1, status: 400, code: "InvalidArgument")
        await #expect(throws: ChatbotTesterError.self) { try await store.write(Data("x".utf8), to: "after-400") }
        #expect(try await MotoServer.shared.stats().requests == 1)
    }

    @Test func multipartSendsOneRequestPerPart() async throws {
        let (store, _) = try await makeStore(through: true) { configuration in
            configuration.partSize = 5 << 20
            configuration.multipartThreshold = 5 << 20
        }
        try await MotoServer.shared.injectFaults(count: 0)
        try await store.write(patternData(count: 11 << 20), to: "parts.bin")
        // create + 3 parts + complete
        #expect(try await MotoServer.shared.stats().forwarded == 5)
    }
}
