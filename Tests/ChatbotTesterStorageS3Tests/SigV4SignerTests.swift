import ChatbotTesterCore
import Foundation
import Testing

@testable import ChatbotTesterStorageS3

/// AWS's published examples: the SigV4 test suite (AKIDEXAMPLE, service "service") and the S3 API
/// reference's header-auth examples (AKIAIOSFODNN7EXAMPLE, examplebucket).
struct SigV4SignerTests {
    static let suiteSigner = SigV4Signer(
        credentials: AWSCredentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "service")
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 20150830T123600Z
    static let s3Signer = SigV4Signer(
        credentials: AWSCredentials(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "s3")
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 20130524T000000Z
    static let suiteHost = [("Host", "example.amazonaws.com")]

    @Test func dateFormat() {
        #expect(SigV4Signer.amzDate(Self.suiteDate) == "20150830T123600Z")
        #expect(SigV4Signer.amzDate(Self.s3Date) == "20130524T000000Z")
    }

    @Test func getVanilla() {
        let signed = Self.suiteSigner.sign(method: "GET", path: "/", headers: Self.suiteHost, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate)
        #expect(
            signed.authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
        #expect(Self.suiteSigner.signingKey(day: "20150830") == hexBytes("938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75"))
    }

    @Test func getVanillaQueryOrderKeyCase() {
        let signed = Self.suiteSigner.sign(
            method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")], headers: Self.suiteHost,
            payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate)
        #expect(signed.signature == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    @Test func postVanilla() {
        let signed = Self.suiteSigner.sign(method: "POST", path: "/", headers: Self.suiteHost, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate)
        #expect(signed.signature == "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
    }

    @Test func getUTF8Path() {
        let signed = Self.suiteSigner.sign(
            method: "GET", path: SigV4Signer.encodePath("/ሴ"), headers: Self.suiteHost, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate)
        #expect(signed.canonicalRequest.hasPrefix("GET\n/%E1%88%B4\n"))
        #expect(signed.signature == "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")
    }

    @Test func s3GetObjectWithRange() {
        let signed = Self.s3Signer.sign(
            method: "GET", path: "/test.txt",
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash)],
            payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date)
        #expect(signed.stringToSign.hasSuffix("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"))
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3PutObject() {
        let body = Data("Welcome to Amazon S3.".utf8)
        let hash = sha256Hex(body)
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let signed = Self.s3Signer.sign(
            method: "PUT", path: SigV4Signer.encodePath("test$file.text"),
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", hash),
            ], payloadHash: hash, date: Self.s3Date)
        #expect(signed.canonicalRequest.hasPrefix("PUT\n/test%24file.text\n"))
        #expect(signed.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func s3ListObjects() {
        let signed = Self.s3Signer.sign(
            method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")],
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash)],
            payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date)
        #expect(signed.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func sessionTokenIsSignedAndSent() {
        var signer = Self.suiteSigner
        signer.credentials.sessionToken = "session-token-value"
        let signed = signer.sign(method: "GET", path: "/", headers: Self.suiteHost, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate)
        #expect(signed.authorization.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"))
        #expect(signed.addedHeaders.contains { $0.name == "x-amz-security-token" && $0.value == "session-token-value" })
        #expect(!signer.credentials.description.contains("session-token-value"))
        #expect(!signer.credentials.description.contains("wJalr"))
    }

    @Test func encoding() {
        #expect(SigV4Signer.uriEncode("a b+c/d~e", keepSlash: true) == "a%20b%2Bc/d~e")
        #expect(SigV4Signer.uriEncode("a/b", keepSlash: false) == "a%2Fb")
        #expect(SigV4Signer.canonicalQuery([("uploads", "")]) == "uploads=")
    }
}

func hexBytes(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}
