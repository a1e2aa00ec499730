import Foundation
import NIOHTTP1
import XMLCoder

/// IRSA / EKS-style web identity: exchanges the token in `AWS_WEB_IDENTITY_TOKEN_FILE` for
/// temporary credentials of `AWS_ROLE_ARN` with STS `AssumeRoleWithWebIdentity` (an unsigned call).
/// The token file is re-read on every refresh, because the kubelet rotates it.
public struct WebIdentityCredentialProvider: AWSCredentialProvider {
    public var roleARN: String
    public var tokenFile: String
    public var sessionName: String
    public var stsEndpoint: URL
    let http: HTTPExchange
    let timeout: Duration
    let maxAttempts: Int

    /// Reads `AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_SESSION_NAME`; `nil` when not configured.
    public init?(environment: [String: String], stsEndpoint: URL, httpClient: AWSHTTPClient,
                 timeout: Duration = .seconds(5), maxAttempts: Int = 3) {
        guard let role = environment["AWS_ROLE_ARN"], !role.isEmpty,
              let file = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], !file.isEmpty else { return nil }
        roleARN = role
        tokenFile = file
        sessionName = environment["AWS_ROLE_SESSION_NAME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "vpcnet-\(Int(Date().timeIntervalSince1970))"
        self.stsEndpoint = stsEndpoint
        http = httpClient.exchange
        self.timeout = timeout
        self.maxAttempts = max(1, maxAttempts)
    }

    public func resolve() async throws(EC2Error) -> AWSCredentials? {
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw .credentials("cannot read the web identity token file \(tokenFile): \(error.localizedDescription)")
        }
        guard !token.isEmpty else { throw .credentials("the web identity token file \(tokenFile) is empty") }
        let body = QueryForm.encode([
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", token),
        ])
        return try await fetchCredentials("AssumeRoleWithWebIdentity for \(roleARN)", attempts: maxAttempts,
                                          baseDelay: .milliseconds(100)) { () async throws(EC2Error) -> AWSCredentials in
            let response = try await http.send(
                method: .POST, url: stsEndpoint, headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                body: Array(body.utf8), timeout: timeout)
            guard response.status == 200 else { throw EC2ResponseDecoder.error(status: response.status, body: response.body) }
            return try Self.decode(response.body)
        }
    }

    static func decode(_ body: [UInt8]) throws(EC2Error) -> AWSCredentials {
        struct Envelope: Decodable {
            struct Result: Decodable {
                struct Credentials: Decodable {
                    var AccessKeyId: String
                    var SecretAccessKey: String
                    var SessionToken: String
                    var Expiration: String
                }
                var Credentials: Credentials
            }
            var AssumeRoleWithWebIdentityResult: Result
        }
        let envelope = try EC2ResponseDecoder.decode(Envelope.self, from: body, status: 200)
        let c = envelope.AssumeRoleWithWebIdentityResult.Credentials
        guard let expiration = ISO8601.parse(c.Expiration) else {
            throw .invalidResponse(status: 200, detail: "STS Expiration '\(c.Expiration)' is not an ISO 8601 time")
        }
        return AWSCredentials(accessKeyID: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken,
                              expiration: expiration)
    }
}

/// ISO 8601 times as AWS writes them: `2026-11-26T20:00:00Z`, optionally with fractional seconds
/// or a numeric offset.
enum ISO8601 {
    static func parse(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
