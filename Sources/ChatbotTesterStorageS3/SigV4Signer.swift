import ChatbotTesterCore
import Foundation

/// AWS Signature Version 4 for request headers (`Authorization: AWS4-HMAC-SHA256 …`).
///
/// Pure and deterministic: given the method, the already-encoded path, the query, the headers, the
/// payload hash and the time, it returns the headers to add. Verified against AWS's published
/// examples (the SigV4 test suite and the S3 API reference's GET/PUT/list examples).
public struct SigV4Signer: Sendable {
    /// The SHA-256 of an empty payload.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    /// The payload hash value that tells S3 the body is not signed.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The result of signing: the headers to send in addition to the ones given.
    public struct Signature: Sendable, Equatable {
        /// `x-amz-date`, `x-amz-security-token` (with a session token) and `Authorization`.
        public var addedHeaders: [(name: String, value: String)]
        public var canonicalRequest: String
        public var stringToSign: String
        /// The hex signature alone.
        public var signature: String
        public var authorization: String

        public static func == (lhs: Signature, rhs: Signature) -> Bool {
            lhs.authorization == rhs.authorization && lhs.canonicalRequest == rhs.canonicalRequest
        }
    }

    /// Signs a request.
    /// - Parameters:
    ///   - path: the URI path, already encoded with ``encodePath(_:)`` (it is sent as is).
    ///   - query: query parameters, not encoded.
    ///   - headers: every header to sign, including `host` (names in any case).
    ///   - payloadHash: the hex SHA-256 of the body, or ``unsignedPayload``.
    public func sign(
        method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
        payloadHash: String, date: Date
    ) -> Signature {
        let amzDate = SigV4Signer.amzDate(date)
        let day = String(amzDate.prefix(8))
        var all = headers.map { (name: $0.0.lowercased(), value: SigV4Signer.trimHeaderValue($0.1)) }
        var added: [(name: String, value: String)] = []
        if !all.contains(where: { $0.name == "x-amz-date" }) {
            all.append((name: "x-amz-date", value: amzDate))
            added.append((name: "x-amz-date", value: amzDate))
        }
        if let token = credentials.sessionToken, !all.contains(where: { $0.name == "x-amz-security-token" }) {
            all.append((name: "x-amz-security-token", value: token))
            added.append((name: "x-amz-security-token", value: token))
        }
        // One line per name; repeated names join their values with commas.
        var merged: [String: [String]] = [:]
        for header in all { merged[header.name, default: []].append(header.value) }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonicalRequest = [
            method, path, SigV4Signer.canonicalQuery(query), canonicalHeaders, signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, SHA256Hasher.hex(canonicalRequest)].joined(separator: "\n")
        let key = signingKey(day: day)
        let signature = SigV4Signer.hex(HMACSHA256.mac(key: key, message: Array(stringToSign.utf8)))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        added.append((name: "Authorization", value: authorization))
        return Signature(
            addedHeaders: added, canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
            authorization: authorization)
    }

    /// The derived key: HMAC chain over date, region, service and `aws4_request`.
    func signingKey(day: String) -> [UInt8] {
        var key = HMACSHA256.mac(key: Array("AWS4\(credentials.secretAccessKey)".utf8), message: Array(day.utf8))
        for part in [region, service, "aws4_request"] { key = HMACSHA256.mac(key: key, message: Array(part.utf8)) }
        return key
    }

    /// `20130524T000000Z` for a date, in UTC.
    public static func amzDate(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z"
    }

    /// RFC 3986 percent-encoding as SigV4 wants it: everything but `A-Za-z0-9-._~` is encoded
    /// (`/` kept when `keepSlash`).
    public static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += "%" + hexDigits[Int(byte >> 4)] + hexDigits[Int(byte & 0xF)]
            }
        }
        return out
    }

    /// An S3 path for an object key: `/` plus the key encoded segment by segment (S3 does not
    /// normalise or double-encode).
    public static func encodePath(_ rawPath: String) -> String {
        let encoded = uriEncode(rawPath, keepSlash: true)
        return encoded.hasPrefix("/") ? encoded : "/" + encoded
    }

    /// The canonical query string: encoded names and values, sorted.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        var encoded: [(name: String, value: String)] = query.map { pair in
            (name: uriEncode(pair.0, keepSlash: false), value: uriEncode(pair.1, keepSlash: false))
        }
        encoded.sort { lhs, rhs in lhs.name == rhs.name ? lhs.value < rhs.value : lhs.name < rhs.name }
        var parts: [String] = []
        for pair in encoded { parts.append(pair.name + "=" + pair.value) }
        return parts.joined(separator: "&")
    }

    static func trimHeaderValue(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            .trimmingCharacters(in: .whitespaces)
    }

    /// Lower-case hex of bytes (not a digest).
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { lowerHex[Int($0 >> 4)] + lowerHex[Int($0 & 0xF)] }.joined()
    }

    private static let lowerHex = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]

    private static let hexDigits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"]
}

/// HMAC-SHA256 (RFC 2104) over Core's SHA-256.
enum HMACSHA256 {
    static func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var block = key
        if block.count > 64 {
            var hasher = SHA256Hasher()
            hasher.update(block)
            block = hasher.finalize()
        }
        block += [UInt8](repeating: 0, count: 64 - block.count)
        var inner = SHA256Hasher()
        inner.update(block.map { $0 ^ 0x36 })
        inner.update(message)
        var outer = SHA256Hasher()
        outer.update(block.map { $0 ^ 0x5C })
        outer.update(inner.finalize())
        return outer.finalize()
    }
}

/// The hex SHA-256 of bytes.
func sha256Hex(_ data: Data) -> String {
    var hasher = SHA256Hasher()
    data.withUnsafeBytes { hasher.update($0) }
    return hasher.finalizeHex()
}
