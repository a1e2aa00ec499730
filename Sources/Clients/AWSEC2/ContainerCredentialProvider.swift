import Foundation
import NIOHTTP1
import VPCNetCore

/// EKS Pod Identity and ECS task roles: credentials from the container credentials endpoint.
///
/// Configured by `AWS_CONTAINER_CREDENTIALS_FULL_URI` (EKS Pod Identity sets
/// `http://169.254.170.23/v1/credentials`) or `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (ECS,
/// relative to `http://169.254.170.2`), with the authorization token read from
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` on every refresh (the agent rotates it) or taken from
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`. As in the AWS SDKs, a plain-HTTP full URI must point at
/// loopback or at the ECS/EKS link-local agents, so credentials are never sent in clear elsewhere.
public struct ContainerCredentialProvider: AWSCredentialProvider {
    public let endpoint: URL
    let tokenFile: String?
    let token: String?
    let http: HTTPExchange
    let timeout: Duration

    /// `nil` when no container credentials endpoint is configured; throws when one is configured
    /// but not allowed.
    public init?(environment: [String: String], httpClient: AWSHTTPClient, timeout: Duration = .seconds(2)) throws(EC2Error) {
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            guard let url = URL(string: "http://169.254.170.2\(relative.hasPrefix("/") ? "" : "/")\(relative)") else {
                throw .credentials("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI='\(relative)' is not a path")
            }
            endpoint = url
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            guard let url = URL(string: full), let scheme = url.scheme, let host = url.host else {
                throw .credentials("AWS_CONTAINER_CREDENTIALS_FULL_URI='\(full)' is not a URL")
            }
            guard scheme == "https" || (scheme == "http" && Self.isAllowedPlainHTTPHost(host)) else {
                throw .credentials("AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, loopback or the ECS/EKS agent address, not \(full)")
            }
            endpoint = url
        } else {
            return nil
        }
        tokenFile = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        http = httpClient.exchange
        self.timeout = timeout
    }

    /// Loopback (127.0.0.0/8, ::1, localhost) or the ECS and EKS Pod Identity agents; names other
    /// than `localhost` are refused rather than resolved, so no DNS answer can redirect the token.
    static func isAllowedPlainHTTPHost(_ rawHost: String) -> Bool {
        let host = rawHost.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if let address = IPv4Address(host) {
            return (try! IPv4CIDR(parsing: "127.0.0.0/8")).contains(address)
                || address == IPv4Address(169, 254, 170, 2) || address == IPv4Address(169, 254, 170, 23)
        }
        return ["localhost", "::1", "fd00:ec2::23"].contains(host)
    }

    public func resolve() async throws(EC2Error) -> AWSCredentials? {
        var headers: [(String, String)] = [("Accept", "application/json")]
        if let tokenFile {
            guard let value = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw .credentials("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(tokenFile)")
            }
            headers.append(("Authorization", value.trimmingCharacters(in: .whitespacesAndNewlines)))
        } else if let token {
            headers.append(("Authorization", token))
        }
        return try await fetchCredentials("container credentials from \(endpoint)", attempts: 3,
                                          baseDelay: .milliseconds(50)) { () async throws(EC2Error) -> AWSCredentials in
            let response = try await http.send(method: .GET, url: endpoint, headers: headers, body: [], timeout: timeout)
            guard response.status == 200 else {
                throw .invalidResponse(status: response.status, detail: String(decoding: response.body.prefix(200), as: UTF8.self))
            }
            return try Self.decode(response.body)
        }
    }

    static func decode(_ body: [UInt8]) throws(EC2Error) -> AWSCredentials {
        struct Document: Decodable {
            var AccessKeyId: String
            var SecretAccessKey: String
            var Token: String?
            var Expiration: String?
        }
        guard let document = try? JSONDecoder().decode(Document.self, from: Data(body)) else {
            throw .credentials("the container credentials endpoint did not answer with the expected JSON")
        }
        var expiration: Date?
        if let text = document.Expiration {
            guard let date = ISO8601.parse(text) else { throw .credentials("container credentials Expiration '\(text)' is not ISO 8601") }
            expiration = date
        }
        return AWSCredentials(accessKeyID: document.AccessKeyId, secretAccessKey: document.SecretAccessKey,
                              sessionToken: document.Token, expiration: expiration)
    }
}
