import ChatbotTesterCore
import ChatbotTesterHTTP
import Foundation
import NIOHTTP1

/// The S3 REST calls the store needs, signed with SigV4 and retried with backoff on 5xx,
/// throttling (503 SlowDown, 429) and connection failures.
///
/// Errors are `ChatbotTesterError`s naming the object (`s3://bucket/key`), the S3 error code and
/// the HTTP status; they never carry a secret, a session token or a request.
public struct S3Client: Sendable {
    public let configuration: S3Configuration
    public let credentials: any AWSCredentialsProvider
    let http: HTTPClient

    /// - Parameter httpClient: the client to use (`HTTPClient.shared` by default).
    public init(configuration: S3Configuration, credentials: any AWSCredentialsProvider, httpClient: HTTPClient = .shared) {
        self.configuration = configuration
        self.credentials = credentials
        self.http = httpClient
    }

    /// The pieces of one request.
    struct Call {
        var method: HTTPMethod
        var bucket: String
        /// The object key, `nil` for bucket-level calls.
        var key: String?
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body: Data?
        /// Statuses the caller handles itself (returned, not thrown): 404, 412, 416.
        var handled: Set<Int> = []
        /// Whether 409 (a concurrent conditional write) is worth retrying.
        var retryConflict = false

        /// The object, or for a listing the prefix, for messages.
        var object: String { "s3://\(bucket)/\(key ?? query.first { $0.0 == "prefix" }?.1 ?? "")" }
    }

    /// Where a request goes: the URL to send, the `Host` header and the encoded path that is signed.
    struct Target {
        var url: String
        var host: String
        var path: String
        var query: String
    }

    func target(bucket: String, key: String?, query: [(String, String)]) -> Target {
        let endpoint = configuration.endpoint ?? URL(string: "https://s3.\(configuration.region).amazonaws.com")!
        let scheme = endpoint.scheme?.lowercased() ?? "https"
        var host = endpoint.host ?? "localhost"
        var basePath = endpoint.path
        while basePath.hasSuffix("/") { basePath.removeLast() }
        let virtual: Bool
        switch configuration.addressing {
        case .path: virtual = false
        case .virtualHost: virtual = true
        case .auto: virtual = configuration.endpoint == nil && !bucket.contains(".")
        }
        let rawPath: String
        if virtual {
            host = "\(bucket).\(host)"
            rawPath = basePath + "/" + (key ?? "")
        } else {
            rawPath = basePath + "/" + bucket + (key.map { "/" + $0 } ?? "")
        }
        if let port = endpoint.port { host += ":\(port)" }
        let path = SigV4Signer.encodePath(rawPath)
        let queryText = SigV4Signer.canonicalQuery(query)
        return Target(url: "\(scheme)://\(host)\(path)" + (queryText.isEmpty ? "" : "?" + queryText), host: host, path: path, query: queryText)
    }

    /// Replies (other than a streamed GetObject's) larger than this are an error.
    static let maxReplyBytes = 64 << 20

    /// Sends a call, retrying what a retry can fix; returns the whole reply for 2xx and `handled` statuses.
    func send(_ call: Call) async throws -> HTTPResponse {
        try await perform(call) { request, timeout in
            let response = try await http.send(request, timeout: timeout, maxBodyBytes: Self.maxReplyBytes)
            return (response, response.status, response.headers, { response.body })
        }
    }

    /// `send` with the reply's body still arriving (GetObject).
    func sendStreamed(_ call: Call) async throws -> HTTPStreamedResponse {
        try await perform(call) { request, timeout in
            let response = try await http.stream(request, timeout: timeout, maxBodyBytes: Int.max)
            return (response, response.status, response.headers, { await Self.errorBody(of: response) })
        }
    }

    /// What an error message quotes of a streamed reply's body: its first 64 KiB, or nothing when
    /// it cannot be read.
    static func errorBody(of response: HTTPStreamedResponse) async -> Data {
        (try? await response.collect(upTo: 64 << 10)) ?? Data()
    }

    /// The retry loop of `send` and `sendStreamed`: `exchange` sends one signed request and returns
    /// the reply, its status and headers, and a way to read its body for an error.
    private func perform<Reply>(
        _ call: Call,
        _ exchange: (HTTPRequest, Duration) async throws -> (Reply, Int, HTTPHeaders, () async -> Data)
    ) async throws -> Reply {
        var attempt = 0
        let timeout = Duration.milliseconds(Int64(configuration.requestTimeout * 1000))
        while true {
            attempt += 1
            let signed = try await signedRequest(call)
            let outcome: Result<(Reply, Int, HTTPHeaders, () async -> Data), any Error>
            do {
                outcome = .success(try await exchange(signed.request, timeout))
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .failure(let error):
                if error is CancellationError || Task.isCancelled { throw ChatbotTesterError(.cancelled, "cancelled: \(call.method) \(call.object)") }
                guard attempt < configuration.maxAttempts else {
                    throw ChatbotTesterError(
                        .transport, "cannot reach S3 for \(call.method) \(call.object) after \(attempt) attempts",
                        location: SourceLocation(source: call.object), retry: .transient, cause: error)
                }
                try await pause(attempt: attempt, retryAfter: nil)
            case .success(let (reply, status, headers, body)):
                if (200..<300).contains(status) || call.handled.contains(status) { return reply }
                let failure = S3Client.failure(status: status, body: call.method == .HEAD ? Data() : await body(), call: call, credentials: signed.credentials)
                let retryable = S3Client.isRetryable(status: status, code: failure.code) || (call.retryConflict && status == 409)
                guard retryable, attempt < configuration.maxAttempts else {
                    throw failure.error(attempts: attempt, retryable: retryable)
                }
                try await pause(attempt: attempt, retryAfter: headers.first(name: "retry-after").flatMap { Double($0) })
            }
        }
    }

    private func signedRequest(_ call: Call) async throws -> (request: HTTPRequest, credentials: AWSCredentials) {        let current: AWSCredentials
        do {
            current = try await credentials.credentials()
        } catch {
            let wrapped = ChatbotTesterError.wrap(error, code: .missingSecret)
            throw ChatbotTesterError(
                wrapped.code, "no credentials for \(call.method) \(call.object): \(wrapped.message)", location: SourceLocation(source: call.object))
        }
        let target = target(bucket: call.bucket, key: call.key, query: call.query)
        let payloadHash: String
        if let body = call.body {
            let unsigned = !configuration.signLargePayloadsOverHTTPS && body.count >= 1 << 20 && target.url.hasPrefix("https://")
            payloadHash = unsigned ? SigV4Signer.unsignedPayload : sha256Hex(body)
        } else {
            payloadHash = SigV4Signer.emptyPayloadHash
        }
        var headers = call.headers
        headers.append(("host", target.host))
        headers.append(("x-amz-content-sha256", payloadHash))
        let signer = SigV4Signer(credentials: current, region: configuration.region)
        let signature = signer.sign(
            method: call.method.rawValue, path: target.path, query: call.query, headers: headers, payloadHash: payloadHash, date: Date())
        var request = HTTPRequest(call.method, url: target.url, headers: headers)
        for header in signature.addedHeaders { request.headers.append((header.name, header.value)) }
        if let body = call.body {
            request.body = body
        } else if call.method == .PUT || call.method == .POST {
            request.body = Data()
        }
        return (request, current)
    }

    private func pause(attempt: Int, retryAfter: Double?) async throws {
        let backoff = min(configuration.maxRetryDelay, configuration.baseRetryDelay * pow(2, Double(attempt - 1)))
        let delay = retryAfter.map { min(configuration.maxRetryDelay, $0) } ?? backoff * Double.random(in: 0.5...1.0)
        do {
            try await Task.sleep(nanoseconds: UInt64(max(0, delay) * 1e9))
        } catch {
            throw ChatbotTesterError(.cancelled, "cancelled while waiting to retry")
        }
    }

    static func isRetryable(status: Int, code: String?) -> Bool {
        if [500, 502, 503, 504, 429].contains(status) { return true }
        let retryableCodes: Set = ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "ThrottlingException", "RequestLimitExceeded"]
        return code.map(retryableCodes.contains) ?? false
    }

    /// An S3 error reply, read and made safe for messages.
    struct Failure {
        var call: Call
        var status: Int
        var code: String?
        var message: String?
        var credentialSource: String

        func error(attempts: Int, retryable: Bool) -> ChatbotTesterError {
            var text: String
            switch (status, code) {
            case (404, _) where call.key != nil && (code == nil || code == "NoSuchKey"):
                text = "no object \(call.object)"
            case (404, "NoSuchBucket"):
                text = "no bucket '\(call.bucket)' (for \(call.object))"
            case (403, _), (401, _):
                text = "S3 refused the credentials (from \(credentialSource)) for \(call.method) \(call.object)"
            default:
                text = "\(call.method) \(call.object) failed"
            }
            if let code { text += ": \(code)" }
            if let message, !message.isEmpty { text += " — \(message)" }
            if retryable { text += " (gave up after \(attempts) attempts)" }
            return ChatbotTesterError(
                status == 404 ? .io : (status == 403 || status == 401 ? .missingSecret : .io), text,
                location: SourceLocation(source: call.object), status: status, retry: retryable ? .transient : .no)
        }
    }

    static func failure(status: Int, body: Data, call: Call, credentials: AWSCredentials) -> Failure {
        let xml = String(decoding: body.prefix(64 << 10), as: UTF8.self)
        var message = S3XML.value(of: "Message", in: xml).map { String($0.prefix(300)) }
        // S3 never echoes the secret, but a proxy might: mask by value.
        for secret in credentials.secretValues where secret.count >= 6 {
            message = message?.replacingOccurrences(of: secret, with: "***")
        }
        return Failure(
            call: call, status: status, code: S3XML.value(of: "Code", in: xml), message: message,
            credentialSource: credentials.source)
    }

    /// The error for a status the caller handled itself (404 on GET, for instance).
    func error(status: Int, body: Data, call: Call) async -> ChatbotTesterError {
        let current = (try? await credentials.credentials()) ?? AWSCredentials(accessKeyId: "", secretAccessKey: "", source: "unknown")
        return S3Client.failure(status: status, body: body, call: call, credentials: current).error(attempts: 1, retryable: false)
    }
}

// MARK: - Operations

extension S3Client {
    /// PutObject; with `ifAbsent`, `If-None-Match: *`, returning `false` when the key exists.
    @discardableResult
    public func putObject(bucket: String, key: String, data: Data, ifAbsent: Bool = false) async throws -> Bool {
        var call = Call(method: .PUT, bucket: bucket, key: key, body: data)
        if ifAbsent {
            call.headers.append(("if-none-match", "*"))
            call.handled = [412]
            call.retryConflict = true
        }
        let response = try await send(call)
        return response.status != 412
    }

    /// GetObject, streamed; `range` is a byte range (`Range: bytes=a-b`). `nil` when absent.
    public func getObject(bucket: String, key: String, range: Range<Int>? = nil) async throws -> HTTPStreamedResponse? {
        var call = Call(method: .GET, bucket: bucket, key: key, handled: [404, 416])
        if let range {
            guard !range.isEmpty else { return nil }
            call.headers.append(("range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
        }
        let response = try await sendStreamed(call)
        switch response.status {
        case 404:
            let error = await error(status: 404, body: Self.errorBody(of: response), call: call)
            if error.message.contains("NoSuchBucket") { throw error }
            return nil
        case 416:
            return nil
        default:
            return response
        }
    }

    /// HeadObject: the object's size, `nil` when absent.
    public func headObject(bucket: String, key: String) async throws -> Int? {
        let response = try await send(Call(method: .HEAD, bucket: bucket, key: key, handled: [404]))
        guard response.status != 404 else { return nil }
        return response.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
    }

    /// HeadObject: seconds between the object's `Last-Modified` and the server's `Date` (both the
    /// server's clock, whole seconds), `nil` when absent or when either header is missing.
    public func objectAge(bucket: String, key: String) async throws -> Double? {
        let response = try await send(Call(method: .HEAD, bucket: bucket, key: key, handled: [404]))
        guard response.status != 404, let modified = response.headers.first(name: "last-modified").flatMap({ HTTPDate.parse($0) }),
            let now = response.headers.first(name: "date").flatMap({ HTTPDate.parse($0) })
        else { return nil }
        return max(0, now.timeIntervalSince(modified))
    }

    /// ListObjectsV2 over every page: the keys under `prefix`, in S3's (binary) order.
    public func listObjects(bucket: String, prefix: String, limit: Int? = nil) async throws -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let limit { query.append(("max-keys", String(min(1000, limit)))) }
            if let token { query.append(("continuation-token", token)) }
            let response = try await send(Call(method: .GET, bucket: bucket, key: nil, query: query))
            let xml = String(decoding: response.body, as: UTF8.self)
            keys += S3XML.values(of: "Key", in: xml)
            token = S3XML.value(of: "IsTruncated", in: xml) == "true" ? S3XML.value(of: "NextContinuationToken", in: xml) : nil
            if let limit, keys.count >= limit { break }
        } while token != nil
        return keys
    }

    /// DeleteObject (no error when absent).
    public func deleteObject(bucket: String, key: String) async throws {
        _ = try await send(Call(method: .DELETE, bucket: bucket, key: key, handled: [404]))
    }

    /// Uploads `size` bytes in parts read by `part(offset, length)`, at most `partConcurrency` at
    /// once; the object appears whole when the upload completes, or not at all (aborted on error).
    public func multipartUpload(
        bucket: String, key: String, size: Int, part: @escaping @Sendable (_ offset: Int, _ length: Int) throws -> Data
    ) async throws {
        let object = "s3://\(bucket)/\(key)"
        let created = try await send(Call(method: .POST, bucket: bucket, key: key, query: [("uploads", "")]))
        let createdXML = String(decoding: created.body, as: UTF8.self)
        guard let uploadId = S3XML.value(of: "UploadId", in: createdXML) else {
            throw ChatbotTesterError(.badResponse, "S3 started no multipart upload for \(object)", location: SourceLocation(source: object))
        }
        let partSize = max(5 << 20, configuration.partSize)
        let count = max(1, (size + partSize - 1) / partSize)
        do {
            var etags = [String](repeating: "", count: count)
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var next = 0
                func start() {
                    let number = next
                    next += 1
                    group.addTask {
                        let offset = number * partSize
                        let data = try part(offset, min(partSize, size - offset))
                        let response = try await send(
                            Call(
                                method: .PUT, bucket: bucket, key: key,
                                query: [("partNumber", String(number + 1)), ("uploadId", uploadId)], body: data))
                        guard let etag = response.headers.first(name: "etag") else {
                            throw ChatbotTesterError(.badResponse, "S3 returned no ETag for part \(number + 1) of \(object)", location: SourceLocation(source: object))
                        }
                        return (number, etag)
                    }
                }
                while next < min(count, max(1, configuration.partConcurrency)) { start() }
                while let (number, etag) = try await group.next() {
                    etags[number] = etag
                    if next < count { start() }
                }
            }
            var xml = "<CompleteMultipartUpload>"
            for (index, etag) in etags.enumerated() {
                xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XML.escape(etag))</ETag></Part>"
            }
            xml += "</CompleteMultipartUpload>"
            let completed = try await send(
                Call(method: .POST, bucket: bucket, key: key, query: [("uploadId", uploadId)], body: Data(xml.utf8)))
            // CompleteMultipartUpload can fail with 200 and an <Error> body.
            let reply = String(decoding: completed.body, as: UTF8.self)
            if reply.contains("<Error>") {
                throw ChatbotTesterError(
                    .io, "S3 could not complete the upload of \(object): \(S3XML.value(of: "Code", in: reply) ?? "error") — \(S3XML.value(of: "Message", in: reply) ?? "")",
                    location: SourceLocation(source: object))
            }
        } catch {
            _ = try? await send(Call(method: .DELETE, bucket: bucket, key: key, query: [("uploadId", uploadId)], handled: [404]))
            throw error
        }
    }
}
