import EC2Sim
import Foundation
import HTTPServing
import NIOHTTP1
import VPCNetCore

/// What the metadata service tells an instance about itself.
public struct InstanceIdentity: Sendable {
    public var instanceID: String
    public var instanceType: String
    public var availabilityZone: String
    public var region: String
    public var enis: [SimENI]
}

/// The instance metadata service at 169.254.169.254 in the simulated VPC: IMDSv2 tokens and the
/// paths vpcnet and common tools read, answered for whichever instance asks (by the source
/// address of the connection, as the real service knows the caller by its ENI).
public enum MetadataService {
    public static func start(listeningSocket: CInt, identify: @escaping @Sendable (IPv4Address) async -> InstanceIdentity?) async throws -> HTTPServer {
        try await HTTPServer.start(listeningSocket: listeningSocket) { request in
            var status = HTTPResponseStatus.notFound, body = "Not Found"
            if request.method == .PUT && request.path == "/latest/api/token" {
                (status, body) = (.ok, "vpcnet-sim-token-\(UInt64.random(in: 0...UInt64.max))")
            } else if request.method == .GET, let source = request.remoteAddress?.ipAddress.flatMap({ try? IPv4Address(parsing: $0) }),
                      let identity = await identify(source), let text = answer(path: request.path, identity: identity) {
                (status, body) = (.ok, text)
            }
            return HTTPServerResponse(status: status, contentType: "text/plain", text: body, closeConnection: true)
        }
    }

    /// The answer for a path, or nil (404).
    static func answer(path: String, identity: InstanceIdentity) -> String? {
        let base = "/latest/meta-data/"
        let primary = identity.enis.first { $0.attachment?.deviceIndex == 0 }
        if path == "/latest/dynamic/instance-identity/document" {
            return """
                {"instanceId":"\(identity.instanceID)","instanceType":"\(identity.instanceType)","availabilityZone":"\(identity.availabilityZone)",\
                "region":"\(identity.region)","privateIp":"\(primary?.primaryIP.description ?? "")","accountId":"123456789012"}
                """
        }
        guard path.hasPrefix(base) else { return nil }
        let key = String(path.dropFirst(base.count))
        switch key {
        case "": return "instance-id\ninstance-type\nlocal-ipv4\nmac\nnetwork/\nplacement/"
        case "instance-id": return identity.instanceID
        case "instance-type": return identity.instanceType
        case "local-ipv4": return primary?.primaryIP.description
        case "mac": return primary?.macAddress
        case "placement/availability-zone": return identity.availabilityZone
        case "placement/region": return identity.region
        case "network/interfaces/macs", "network/interfaces/macs/": return identity.enis.map { $0.macAddress + "/" }.joined(separator: "\n")
        default: break
        }
        let macs = "network/interfaces/macs/"
        guard key.hasPrefix(macs) else { return nil }
        let parts = key.dropFirst(macs.count).split(separator: "/", maxSplits: 1).map(String.init)
        guard let mac = parts.first, let eni = identity.enis.first(where: { $0.macAddress == mac }) else { return nil }
        switch parts.count > 1 ? parts[1] : "" {
        case "": return "device-number\ninterface-id\nipv4-prefix\nlocal-ipv4s\nsubnet-id\nvpc-id"
        case "ipv4-prefix": return eni.prefixes.map(\.description).joined(separator: "\n")
        case "device-number": return eni.attachment.map { String($0.deviceIndex) }
        case "interface-id": return eni.id
        case "local-ipv4s": return ([eni.primaryIP] + eni.secondaryIPs).map(\.description).joined(separator: "\n")
        case "subnet-id": return eni.subnetID
        case "vpc-id": return eni.vpcID
        default: return nil
        }
    }
}
