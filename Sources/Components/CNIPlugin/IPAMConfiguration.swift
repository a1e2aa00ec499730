#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import VPCNetContracts
import VPCNetCore

/// What vpcnet-ipam reads from the network configuration on stdin: the common fields, its `ipam`
/// section, and per command the previous result (CHECK) or the valid attachments (GC).
public struct IPAMConfiguration: Sendable, Hashable {
    public var cniVersion: String
    public var name: String
    public var socketPath: String
    public var spoolDirectory: String
    public var timeoutMilliseconds: Int
    public var previousResult: JSONValue?
    /// `cni.dev/valid-attachments` of GC.
    public var validAttachments: [ValidAttachment]
    /// The pod's `hostPort`s: `runtimeConfig.portMappings`, which reach the IPAM plugin when its
    /// main plugin (`ptp`) declares the `portMappings` capability (it passes its whole
    /// configuration on), so the daemon can refuse a port another pod on the node holds.
    public var hostPorts: [HostPort] = []

    public struct ValidAttachment: Sendable, Hashable {
        public var containerID: String
        public var interface: String
    }

    public static let maximumInputBytes = 1 << 20

    public init(bytes: [UInt8]) throws(CNIError) {
        guard bytes.count <= Self.maximumInputBytes else {
            throw CNIError(.decodingFailure, "the network configuration is larger than \(Self.maximumInputBytes) bytes")
        }
        let document: JSONValue
        do { document = try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) } catch {
            throw CNIError(.decodingFailure, "the network configuration is not valid JSON", details: "\(error)")
        }
        guard case .object = document else { throw CNIError(.decodingFailure, "the network configuration is not a JSON object") }
        guard let version = document["cniVersion"]?.stringValue, !version.isEmpty else {
            throw CNIError(.invalidConfiguration, "cniVersion is missing")
        }
        guard CNIVersion.supported.contains(version) else {
            throw CNIError(.incompatibleVersion, "CNI version \(version) is not supported", details: "supported: \(CNIVersion.supported.joined(separator: ", "))")
        }
        cniVersion = version
        guard let name = document["name"]?.stringValue, !name.isEmpty else { throw CNIError(.invalidConfiguration, "the network name is missing") }
        self.name = name
        guard let ipam = document["ipam"], case .object = ipam else { throw CNIError(.invalidConfiguration, "the ipam section is missing") }
        func string(_ key: String, default value: String) throws(CNIError) -> String {
            guard let field = ipam[key] else { return value }
            guard let text = field.stringValue, text.hasPrefix("/") else { throw CNIError(.invalidConfiguration, "ipam.\(key) must be an absolute path") }
            return text
        }
        socketPath = try string("socket", default: WellKnown.Paths.ipamSocket)
        spoolDirectory = try string("spoolDir", default: WellKnown.Paths.spoolDirectory)
        switch ipam["timeoutMilliseconds"] {
        case nil: timeoutMilliseconds = 10_000
        case .int(let value)? where (1...600_000).contains(value): timeoutMilliseconds = Int(value)
        default: throw CNIError(.invalidConfiguration, "ipam.timeoutMilliseconds must be a whole number of milliseconds, 1…600000")
        }
        previousResult = document["prevResult"]
        hostPorts = try Self.hostPorts(document.value(at: "runtimeConfig.portMappings"))
        validAttachments = []
        if let list = document["cni.dev/valid-attachments"] {
            guard case .array(let entries) = list else { throw CNIError(.invalidConfiguration, "cni.dev/valid-attachments must be a list") }
            for entry in entries {
                guard let id = entry["containerID"]?.stringValue, let interface = entry["ifname"]?.stringValue else {
                    throw CNIError(.invalidConfiguration, "each of cni.dev/valid-attachments needs containerID and ifname")
                }
                validAttachments.append(ValidAttachment(containerID: id, interface: interface))
            }
        }
    }

    /// `portMappings` as the CNI conventions define them: `hostPort`, `containerPort`, `protocol`
    /// (`tcp` when left out), optional `hostIP`. IPv6 host addresses are not the IPv4 node's concern.
    static func hostPorts(_ mappings: JSONValue?) throws(CNIError) -> [HostPort] {
        guard let mappings else { return [] }
        guard case .array(let entries) = mappings else { throw CNIError(.invalidConfiguration, "runtimeConfig.portMappings must be a list") }
        var ports: [HostPort] = []
        for entry in entries {
            guard case .int(let port)? = entry["hostPort"], (1...65_535).contains(port) else {
                throw CNIError(.invalidConfiguration, "each of runtimeConfig.portMappings needs a hostPort in 1…65535", details: entry.serialized())
            }
            let proto = (entry["protocol"]?.stringValue ?? "tcp").lowercased()
            guard ["tcp", "udp", "sctp"].contains(proto) else {
                throw CNIError(.invalidConfiguration, "runtimeConfig.portMappings: protocol \(proto) is not tcp, udp or sctp")
            }
            let hostIP = entry["hostIP"]?.stringValue ?? ""
            if hostIP.contains(":") { continue }
            ports.append(HostPort(port: Int(port), protocol: proto, hostIP: hostIP == "0.0.0.0" ? "" : hostIP))
        }
        return ports
    }

    /// The first IPv4 address of the previous result (`ips[].address`, without its prefix).
    public var previousAddress: String? {
        guard case .array(let ips)? = previousResult?["ips"] else { return nil }
        for ip in ips {
            if let text = ip["address"]?.stringValue, let slash = text.firstIndex(of: "/"), !text.contains(":") {
                return String(text[..<slash])
            }
        }
        return nil
    }
}
