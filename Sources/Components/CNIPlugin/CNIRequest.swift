#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import VPCNetCore

public enum CNICommand: String, Sendable, CaseIterable {
    case add = "ADD", del = "DEL", check = "CHECK", version = "VERSION", gc = "GC", status = "STATUS"
}

/// The CNI versions vpcnet-ipam speaks, oldest first; results are rendered in the one asked for.
public enum CNIVersion {
    public static let supported = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
    public static let latest = "1.1.0"

    /// Orders dotted versions numerically.
    static func atLeast(_ version: String, _ minimum: String) -> Bool {
        let a = version.split(separator: ".").map { Int($0) ?? 0 }, b = minimum.split(separator: ".").map { Int($0) ?? 0 }
        return a.lexicographicallyPrecedes(b) == false
    }
}

/// The runtime's environment for one invocation (`CNI_*` variables), validated per command.
public struct CNIEnvironment: Sendable, Hashable {
    public var command: CNICommand
    public var containerID: String
    public var networkNamespace: String
    public var interface: String
    /// `CNI_ARGS`: `K8S_POD_NAMESPACE=…;K8S_POD_NAME=…;…`.
    public var arguments: [String: String]

    public init(variables: [String: String]) throws(CNIError) {
        guard let text = variables["CNI_COMMAND"], !text.isEmpty else {
            throw CNIError(.invalidEnvironment, "CNI_COMMAND is not set")
        }
        guard let command = CNICommand(rawValue: text) else {
            throw CNIError(.invalidEnvironment, "unknown CNI_COMMAND \(text)", details: "known: \(CNICommand.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.command = command
        containerID = variables["CNI_CONTAINERID"] ?? ""
        networkNamespace = variables["CNI_NETNS"] ?? ""
        interface = variables["CNI_IFNAME"] ?? ""
        var required: [(String, String)] = []
        switch command {
        case .add, .check: required = [("CNI_CONTAINERID", containerID), ("CNI_NETNS", networkNamespace), ("CNI_IFNAME", interface)]
        case .del: required = [("CNI_CONTAINERID", containerID), ("CNI_IFNAME", interface)]
        case .version, .gc, .status: break
        }
        for (name, value) in required where value.isEmpty {
            throw CNIError(.invalidEnvironment, "\(name) is required for \(command.rawValue)")
        }
        if command == .add || command == .check || command == .del {
            guard containerID.utf8.count <= 1024, !containerID.contains(where: { $0.isNewline || $0 == "\u{0}" }) else {
                throw CNIError(.invalidEnvironment, "CNI_CONTAINERID is not a container ID")
            }
        }
        arguments = [:]
        for pair in (variables["CNI_ARGS"] ?? "").split(separator: ";") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else { throw CNIError(.invalidEnvironment, "CNI_ARGS: expected KEY=VALUE, got \"\(pair)\"") }
            arguments[String(parts[0])] = String(parts[1])
        }
    }
}

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

    public struct ValidAttachment: Sendable, Hashable {
        public var containerID: String
        public var interface: String
    }

    public static let maximumInputBytes = 1 << 20
    public static let defaultSocket = "/run/vpcnet/ipam.sock"
    public static let defaultSpool = "/var/lib/vpcnet/spool"

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
        socketPath = try string("socket", default: Self.defaultSocket)
        spoolDirectory = try string("spoolDir", default: Self.defaultSpool)
        switch ipam["timeoutMilliseconds"] {
        case nil: timeoutMilliseconds = 10_000
        case .int(let value)? where (1...600_000).contains(value): timeoutMilliseconds = Int(value)
        default: throw CNIError(.invalidConfiguration, "ipam.timeoutMilliseconds must be a whole number of milliseconds, 1…600000")
        }
        previousResult = document["prevResult"]
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

/// An IPAM result (one IPv4 address, its gateway, a default route), rendered in a CNI version.
public struct IPAMResult: Sendable, Hashable {
    public var address: IPv4Address
    public var prefixLength: Int
    public var gateway: IPv4Address

    public init(address: IPv4Address, prefixLength: Int, gateway: IPv4Address) {
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
    }

    /// 0.3.x and 0.4.0 tag each address with `"version": "4"`; 1.x dropped the field.
    public func json(cniVersion: String) -> String {
        let legacy = !CNIVersion.atLeast(cniVersion, "1.0.0")
        let ip = "{\"address\":\"\(address)/\(prefixLength)\",\"gateway\":\"\(gateway)\"\(legacy ? ",\"version\":\"4\"" : "")}"
        return "{\"cniVersion\":\"\(cniVersion)\",\"dns\":{},\"ips\":[\(ip)],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}"
    }
}
