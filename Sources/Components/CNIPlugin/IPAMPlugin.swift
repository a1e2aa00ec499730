#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import IPAMClient
import IPAMProto
import VPCNetContracts
import VPCNetCore

/// The daemon as the plugin uses it (``IPAMClient`` in production; a fake in unit tests).
public protocol IPAMBackend {
    func add(_ request: Vpcnet_Ipam_V1_AddRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_AddResponse
    func del(_ request: Vpcnet_Ipam_V1_DelRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_DelResponse
    func check(_ request: Vpcnet_Ipam_V1_CheckRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_CheckResponse
    func gc(_ request: Vpcnet_Ipam_V1_GCRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_GCResponse
    func health() throws(IPAMCallError) -> Grpc_Health_V1_HealthCheckResponse.ServingStatus
}

extension IPAMClient: IPAMBackend {}

/// The vpcnet-ipam CNI plugin: one invocation, from environment and stdin to stdout and an exit
/// status. The executable only gathers its inputs and prints what this returns.
public struct IPAMPlugin {
    public struct Outcome: Equatable, Sendable {
        public var output: String
        public var exitCode: Int32
    }

    /// Called with the configuration's socket and deadline to reach the daemon.
    let backend: (IPAMConfiguration) -> any IPAMBackend

    public init(backend: @escaping (IPAMConfiguration) -> any IPAMBackend = { IPAMClient(socketPath: $0.socketPath, timeoutMilliseconds: $0.timeoutMilliseconds) }) {
        self.backend = backend
    }

    public func run(environment: [String: String], stdin: [UInt8]) -> Outcome {
        // Errors are reported in the configuration's version when it can be read, else the latest.
        var version = CNIVersion.latest
        do {
            let env = try CNIEnvironment(variables: environment)
            if env.command == .version { return Outcome(output: versionInfo(stdin), exitCode: 0) }
            let configuration = try IPAMConfiguration(bytes: stdin)
            version = configuration.cniVersion
            return Outcome(output: try perform(env, configuration), exitCode: 0)
        } catch {
            return Outcome(output: error.json(cniVersion: version), exitCode: 1)
        }
    }

    private func perform(_ env: CNIEnvironment, _ configuration: IPAMConfiguration) throws(CNIError) -> String {
        let daemon = backend(configuration)
        let attachment = Vpcnet_Ipam_V1_Attachment.with {
            $0.network = configuration.name
            $0.containerID = env.containerID
            $0.interface = env.interface
        }
        switch env.command {
        case .add:
            let response: Vpcnet_Ipam_V1_AddResponse
            do {
                response = try daemon.add(.with {
                    $0.attachment = attachment
                    $0.pod = .with {
                        $0.namespace = env.arguments["K8S_POD_NAMESPACE"] ?? ""
                        $0.name = env.arguments["K8S_POD_NAME"] ?? ""
                        $0.uid = env.arguments["K8S_POD_UID"] ?? ""
                    }
                    $0.hostPorts = configuration.hostPorts.map { port in
                        .with {
                            $0.port = UInt32(port.port)
                            $0.protocol = port.protocol
                            $0.hostIp = port.hostIP
                        }
                    }
                })
            } catch {
                throw Self.cniError(error, doing: "allocate an address")
            }
            guard let address = try? IPv4Address(parsing: response.address), let gateway = try? IPv4Address(parsing: response.gateway),
                  (1...32).contains(response.prefixLength) else {
                throw CNIError(.daemonRefused, "the daemon's answer holds no usable address", details: "\(response)")
            }
            return IPAMResult(address: address, prefixLength: Int(response.prefixLength), gateway: gateway).json(cniVersion: configuration.cniVersion)
        case .del:
            do {
                _ = try daemon.del(.with { $0.attachment = attachment })
            } catch {
                // The daemon is down (or failing): leave the release where it will find it at start.
                // DEL must not fail, or the runtime cannot remove the pod.
                do {
                    try ReleaseSpool(directory: configuration.spoolDirectory)
                        .spool(AttachmentKey(network: configuration.name, containerID: env.containerID, interface: env.interface))
                } catch let spoolError {
                    throw CNIError(.ioFailure, "cannot release the address now (\(error)) nor spool the release", details: "\(spoolError)")
                }
            }
            return ""
        case .check:
            guard CNIVersion.atLeast(configuration.cniVersion, "0.4.0") else {
                throw CNIError(.incompatibleVersion, "CHECK needs CNI version 0.4.0 or later, the configuration says \(configuration.cniVersion)")
            }
            guard let address = configuration.previousAddress else { throw CNIError(.invalidConfiguration, "CHECK needs prevResult with an IPv4 address") }
            do {
                _ = try daemon.check(.with {
                    $0.attachment = attachment
                    $0.address = address
                })
            } catch {
                throw Self.cniError(error, doing: "check the address")
            }
            return ""
        case .gc:
            guard CNIVersion.atLeast(configuration.cniVersion, "1.1.0") else {
                throw CNIError(.incompatibleVersion, "GC needs CNI version 1.1.0, the configuration says \(configuration.cniVersion)")
            }
            do {
                _ = try daemon.gc(.with {
                    $0.network = configuration.name
                    $0.validAttachments = configuration.validAttachments.map { valid in
                        .with {
                            $0.network = configuration.name
                            $0.containerID = valid.containerID
                            $0.interface = valid.interface
                        }
                    }
                })
            } catch {
                throw Self.cniError(error, doing: "collect stale addresses")
            }
            return ""
        case .status:
            guard CNIVersion.atLeast(configuration.cniVersion, "1.1.0") else {
                throw CNIError(.incompatibleVersion, "STATUS needs CNI version 1.1.0, the configuration says \(configuration.cniVersion)")
            }
            let status: Grpc_Health_V1_HealthCheckResponse.ServingStatus
            do { status = try daemon.health() } catch { throw CNIError(.notAvailable, "the vpcnet daemon is not available", details: "\(error)") }
            guard status == .serving else { throw CNIError(.notAvailable, "the vpcnet daemon has not configured this node's addresses yet") }
            return ""
        case .version:
            return versionInfo([])
        }
    }

    /// The VERSION answer: the versions supported, in the version asked about (if given and known).
    private func versionInfo(_ stdin: [UInt8]) -> String {
        var asked = CNIVersion.latest
        if let text = try? IPAMConfigurationProbe.cniVersion(stdin), CNIVersion.supported.contains(text) { asked = text }
        return "{\"cniVersion\":\"\(asked)\",\"supportedVersions\":[\(CNIVersion.supported.map { "\"\($0)\"" }.joined(separator: ","))]}"
    }

    static func cniError(_ error: IPAMCallError, doing what: String) -> CNIError {
        switch error {
        case .unreachable, .deadlineExceeded:
            return CNIError(.tryAgainLater, "cannot \(what): \(error)")
        case .status(let code, let message):
            switch code {
            case .resourceExhausted: return CNIError(.noFreeAddress, message)
            case .unavailable: return CNIError(.tryAgainLater, message)
            case .notFound: return CNIError(.unknownContainer, message)
            case .alreadyExists: return CNIError(.daemonRefused, message)
            default: return CNIError(.daemonRefused, "cannot \(what): \(message)")
            }
        case .protocolViolation:
            return CNIError(.daemonRefused, "cannot \(what): \(error)")
        }
    }
}

/// Reads just `cniVersion` from a VERSION request's stdin (which may hold nothing else).
enum IPAMConfigurationProbe {
    static func cniVersion(_ stdin: [UInt8]) throws -> String? {
        guard !stdin.isEmpty, stdin.count <= IPAMConfiguration.maximumInputBytes else { return nil }
        return try JSONDecoder().decode(JSONValue.self, from: Data(stdin))["cniVersion"]?.stringValue
    }
}
