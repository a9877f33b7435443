import ChatbotTesterCore
import ChatbotTesterHTTP
import Foundation
import NIOHTTP1

/// Exchanges a web identity token (an EKS service-account token: IRSA) for temporary credentials
/// with STS `AssumeRoleWithWebIdentity`, an unsigned call.
public struct WebIdentityExchange: Sendable {
    /// STS: `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, else `https://sts.<region>.amazonaws.com`.
    public var endpoint: URL
    let http: HTTPClient

    public init(endpoint: URL, httpClient: HTTPClient = .shared) {
        self.endpoint = endpoint
        self.http = httpClient
    }

    /// The exchange for an environment, with its STS endpoint.
    public static func fromEnvironment(_ environment: AWSEnvironment, httpClient: HTTPClient = .shared) throws -> WebIdentityExchange {
        let profile = (try? environment.profile()) ?? nil
        let region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? profile?["region"] ?? "us-east-1"
        let text = S3Configuration.endpointURL(service: "STS", profileService: "sts", environment: environment, profile: profile)
            ?? "https://sts.\(region).amazonaws.com"
        return WebIdentityExchange(endpoint: try S3Configuration.parseEndpoint(text), httpClient: httpClient)
    }

    /// Calls STS; errors name the role, never the token.
    public func assumeRole(roleArn: String, token: String, sessionName: String) async throws -> AWSCredentials {
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleArn), ("RoleSessionName", sessionName),
            ("WebIdentityToken", token),
        ].map { "\($0.0)=\(SigV4Signer.uriEncode($0.1, keepSlash: false))" }.joined(separator: "&")
        let request = HTTPRequest(
            .POST, url: endpoint.absoluteString, headers: [("content-type", "application/x-www-form-urlencoded")], body: Data(form.utf8))
        let reply: String
        let status: Int
        do {
            let response = try await http.send(request, timeout: .seconds(30), maxBodyBytes: 1 << 20)
            status = response.status
            reply = String(decoding: response.body, as: UTF8.self)
        } catch {
            throw ChatbotTesterError(.transport, "cannot reach STS at \(endpoint.absoluteString) to assume \(roleArn)", location: SourceLocation(source: roleArn), cause: error)
        }
        guard status == 200, let id = S3XML.value(of: "AccessKeyId", in: reply), let secret = S3XML.value(of: "SecretAccessKey", in: reply)
        else {
            let detail = [S3XML.value(of: "Code", in: reply), S3XML.value(of: "Message", in: reply)].compactMap { $0 }.joined(separator: ": ")
            throw ChatbotTesterError(
                .missingSecret, "STS refused AssumeRoleWithWebIdentity for \(roleArn)\(detail.isEmpty ? "" : ": " + detail)",
                location: SourceLocation(source: roleArn), status: status)
        }
        let expiration = S3XML.value(of: "Expiration", in: reply).flatMap { ISO8601DateFormatter().date(from: $0) }
        return AWSCredentials(
            accessKeyId: id, secretAccessKey: secret, sessionToken: S3XML.value(of: "SessionToken", in: reply), expiration: expiration,
            source: "web identity \(roleArn)")
    }
}
