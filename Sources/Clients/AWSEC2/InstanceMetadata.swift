import Foundation
import NIOHTTP1

/// A client of the EC2 instance metadata service, IMDSv2 only (session token first, as required
/// when instances are launched with `HttpTokens=required`).
///
/// Endpoint: `AWS_EC2_METADATA_SERVICE_ENDPOINT` (default `http://169.254.169.254`); disabled
/// entirely with `AWS_EC2_METADATA_DISABLED=true`. Timeouts are short, because off EC2 the
/// address does not answer at all.
public actor InstanceMetadataClient {
    public let endpoint: URL
    let http: HTTPExchange
    let timeout: Duration
    private var token: (value: String, expires: Date)?
    private static let tokenTTL = 21_600

    public init(endpoint: URL = URL(string: "http://169.254.169.254")!, httpClient: AWSHTTPClient, timeout: Duration = .seconds(1)) {
        self.endpoint = endpoint
        http = httpClient.exchange
        self.timeout = timeout
    }

    /// `nil` when `AWS_EC2_METADATA_DISABLED` is true.
    public init?(environment: [String: String], httpClient: AWSHTTPClient) {
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" { return nil }
        let endpoint = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap(URL.init(string:))
            ?? URL(string: "http://169.254.169.254")!
        self.init(endpoint: endpoint, httpClient: httpClient)
    }

    /// GETs a metadata path such as `meta-data/placement/region` (relative to `/latest/`).
    public func get(_ path: String) async throws(EC2Error) -> String {
        for attempt in 1...2 {
            let token = try await sessionToken()
            let response = try await http.send(method: .GET, url: endpoint.appendingPathComponent("latest/\(path)"),
                                               headers: [("X-aws-ec2-metadata-token", token)], body: [], timeout: timeout)
            if response.status == 401 && attempt == 1 {
                self.token = nil  // token expired or IMDS restarted: fetch a new one once
                continue
            }
            guard response.status == 200 else {
                throw .invalidResponse(status: response.status, detail: "instance metadata \(path)")
            }
            return String(decoding: response.body, as: UTF8.self)
        }
        throw .invalidResponse(status: 401, detail: "instance metadata rejected a fresh session token")
    }

    private func sessionToken() async throws(EC2Error) -> String {
        if let token, token.expires > Date() { return token.value }
        let response = try await http.send(method: .PUT, url: endpoint.appendingPathComponent("latest/api/token"),
                                           headers: [("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTL))],
                                           body: [], timeout: timeout)
        guard response.status == 200, !response.body.isEmpty else {
            throw .invalidResponse(status: response.status, detail: "instance metadata session token (IMDSv2)")
        }
        let value = String(decoding: response.body, as: UTF8.self)
        token = (value, Date().addingTimeInterval(Double(Self.tokenTTL - 60)))
        return value
    }
}

/// The instance role's credentials from `meta-data/iam/security-credentials/<role>`.
public struct InstanceMetadataCredentialProvider: AWSCredentialProvider {
    let metadata: InstanceMetadataClient
    public init(metadata: InstanceMetadataClient) { self.metadata = metadata }

    public func resolve() async throws(EC2Error) -> AWSCredentials? {
        let roles: String
        do {
            roles = try await metadata.get("meta-data/iam/security-credentials/")
        } catch {
            // No metadata service answering (not on EC2) or no role attached: not configured.
            switch error {
            case .timeout, .transport, .invalidResponse: return nil
            default: throw error
            }
        }
        guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else { return nil }
        let json = try await metadata.get("meta-data/iam/security-credentials/\(role)")
        struct Document: Decodable {
            var Code: String?
            var AccessKeyId: String
            var SecretAccessKey: String
            var Token: String
            var Expiration: String
        }
        guard let document = try? JSONDecoder().decode(Document.self, from: Data(json.utf8)) else {
            throw .credentials("instance metadata credentials for role \(role) are not the expected JSON")
        }
        if let code = document.Code, code != "Success" { throw .credentials("instance metadata credentials: \(code)") }
        guard let expiration = ISO8601.parse(document.Expiration) else {
            throw .credentials("instance metadata Expiration '\(document.Expiration)' is not an ISO 8601 time")
        }
        return AWSCredentials(accessKeyID: document.AccessKeyId, secretAccessKey: document.SecretAccessKey,
                              sessionToken: document.Token, expiration: expiration)
    }
}
