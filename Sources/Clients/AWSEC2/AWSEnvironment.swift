import Foundation
import VPCNetCore

/// Region, endpoints and credentials resolved the way the AWS SDKs and CLI resolve them, so the
/// same binary runs against AWS, moto or vpcnet's EC2 simulator with only environment changes.
public struct AWSEnvironment: Sendable {
    public var variables: [String: String]

    public init(variables: [String: String] = ProcessInfo.processInfo.environment) {
        self.variables = variables
    }

    /// `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, else the instance's region from IMDS.
    public func region(files: SharedConfigFiles, metadata: InstanceMetadataClient?) async throws(EC2Error) -> String {
        for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let value = variables[name], !value.isEmpty { return value }
        }
        if let value = files.settings["region"], !value.isEmpty { return value }
        guard let metadata else {
            throw .invalidRequest("no AWS region: set AWS_REGION (instance metadata is disabled)")
        }
        do {
            return try await metadata.get("meta-data/placement/region").trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw .invalidRequest("no AWS region: set AWS_REGION (instance metadata did not answer: \(error))")
        }
    }

    /// `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, else the service's regional endpoint.
    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` disables both overrides.
    public func endpoint(service: String, region: String) throws(EC2Error) -> URL {
        if variables["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]?.lowercased() != "true" {
            for name in ["AWS_ENDPOINT_URL_\(service.uppercased())", "AWS_ENDPOINT_URL"] {
                guard let value = variables[name], !value.isEmpty else { continue }
                guard let url = URL(string: value), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                    throw .invalidRequest("\(name)='\(value)' is not an http(s) URL")
                }
                return url
            }
        }
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return URL(string: "https://\(service).\(region).\(suffix)")!
    }

    /// The default chain, in the AWS SDKs' order: environment keys, web identity (IRSA), shared
    /// files, the container endpoint (EKS Pod Identity, ECS), instance metadata.
    public func credentialChain(files: SharedConfigFiles, stsEndpoint: URL, metadata: InstanceMetadataClient?,
                                httpClient: AWSHTTPClient) throws(EC2Error) -> CredentialChain {
        var providers: [any AWSCredentialProvider] = [EnvironmentCredentialProvider(environment: variables)]
        var webIdentityVariables = variables
        // A profile may name the role and token file instead of the environment.
        if variables["AWS_ROLE_ARN"] == nil, let role = files.settings["role_arn"], let file = files.settings["web_identity_token_file"] {
            webIdentityVariables["AWS_ROLE_ARN"] = role
            webIdentityVariables["AWS_WEB_IDENTITY_TOKEN_FILE"] = file
            if let name = files.settings["role_session_name"] { webIdentityVariables["AWS_ROLE_SESSION_NAME"] = name }
        }
        if let webIdentity = WebIdentityCredentialProvider(environment: webIdentityVariables, stsEndpoint: stsEndpoint,
                                                           httpClient: httpClient) {
            providers.append(webIdentity)
        }
        providers.append(SharedFileCredentialProvider(files: files))
        if let container = try ContainerCredentialProvider(environment: variables, httpClient: httpClient) {
            providers.append(container)
        }
        if let metadata { providers.append(InstanceMetadataCredentialProvider(metadata: metadata)) }
        return CredentialChain(providers)
    }
}

extension EC2Client {
    /// A client configured from the environment: region, endpoint and credential chain as the AWS
    /// SDKs resolve them.
    public static func fromEnvironment(_ environment: AWSEnvironment = AWSEnvironment(), httpClient: AWSHTTPClient,
                                       requestTimeout: Duration = .seconds(20), retry: RetryPolicy = RetryPolicy(),
                                       rateBudget: RateBudget = .shared) async throws(EC2Error) -> EC2Client {
        let files = SharedConfigFiles(environment: environment.variables)
        let metadata = InstanceMetadataClient(environment: environment.variables, httpClient: httpClient)
        let region = try await environment.region(files: files, metadata: metadata)
        let endpoint = try environment.endpoint(service: "ec2", region: region)
        let sts = try environment.endpoint(service: "sts", region: region)
        let chain = try environment.credentialChain(files: files, stsEndpoint: sts, metadata: metadata, httpClient: httpClient)
        return EC2Client(configuration: .init(region: region, endpoint: endpoint, requestTimeout: requestTimeout, retry: retry),
                         credentials: chain, httpClient: httpClient, rateBudget: rateBudget)
    }
}

extension InstanceTypeLimits {
    /// The limits from a DescribeInstanceTypes answer, for a type the generated table lacks.
    public init(_ info: InstanceTypeInfo) {
        let defaultCard = info.networkCards.first { $0.networkCardIndex == info.defaultNetworkCardIndex }
        self.init(instanceType: info.instanceType, maxENIs: info.maximumNetworkInterfaces,
                  ipv4AddressesPerENI: info.ipv4AddressesPerInterface,
                  hypervisor: Hypervisor(rawValue: info.hypervisor ?? "-") ?? .none, isBareMetal: info.bareMetal,
                  networkCards: max(1, info.networkCards.count),
                  maxENIsOnDefaultCard: defaultCard?.maximumNetworkInterfaces ?? info.maximumNetworkInterfaces)
    }
}
