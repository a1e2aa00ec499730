import VPCNetCore

/// How the CNI spec identifies an attachment: network name, container ID, interface name.
public struct AttachmentKey: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    public var network: String
    public var containerID: String
    public var interface: String

    public init(network: String, containerID: String, interface: String) {
        self.network = network
        self.containerID = containerID
        self.interface = interface
    }

    public static func < (a: Self, b: Self) -> Bool { (a.network, a.containerID, a.interface) < (b.network, b.containerID, b.interface) }
    public var description: String { "\(network)/\(containerID)/\(interface)" }
}

/// The pod an attachment belongs to, as the runtime reported it (`K8S_POD_*`); may be empty.
public struct PodReference: Hashable, Codable, Sendable {
    public var namespace: String
    public var name: String
    public var uid: String

    public init(namespace: String = "", name: String = "", uid: String = "") {
        self.namespace = namespace
        self.name = name
        self.uid = uid
    }

    public var isEmpty: Bool { namespace.isEmpty && name.isEmpty }
}

/// A `hostPort` the runtime asked `portmap` to map for the attachment (its `portMappings`).
public struct HostPort: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    public var port: Int
    /// Lower case: `tcp`, `udp`, `sctp`.
    public var `protocol`: String
    /// The node address it is mapped on; empty for every address.
    public var hostIP: String

    public init(port: Int, protocol: String, hostIP: String = "") {
        self.port = port
        self.protocol = `protocol`.lowercased()
        self.hostIP = hostIP
    }

    /// Two mappings take the same port when protocol and port match and their addresses overlap
    /// (one of them is every address, or both are the same one).
    public func collides(with other: HostPort) -> Bool {
        port == other.port && `protocol` == other.protocol && (hostIP.isEmpty || other.hostIP.isEmpty || hostIP == other.hostIP)
    }

    public static func < (a: Self, b: Self) -> Bool { (a.port, a.protocol, a.hostIP) < (b.port, b.protocol, b.hostIP) }
    public var description: String { (hostIP.isEmpty ? "" : "\(hostIP):") + "\(port)/\(`protocol`)" }
}

/// An address held by an attachment: what the daemon persists, reports and hands back on DEL.
public struct Allocation: Hashable, Codable, Sendable {
    public var key: AttachmentKey
    public var pod: PodReference
    public var address: IPv4Address
    /// Milliseconds since the Unix epoch.
    public var allocatedAt: Int64
    /// The node ports the attachment's `hostPort`s take; no other attachment may take them.
    public var hostPorts: [HostPort]

    public init(key: AttachmentKey, pod: PodReference, address: IPv4Address, allocatedAt: Int64, hostPorts: [HostPort] = []) {
        self.key = key
        self.pod = pod
        self.address = address
        self.allocatedAt = allocatedAt
        self.hostPorts = hostPorts
    }

    enum CodingKeys: String, CodingKey { case key, pod, address, allocatedAt, hostPorts }

    /// State written before host ports were recorded has none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        key = try container.decode(AttachmentKey.self, forKey: .key)
        pod = try container.decode(PodReference.self, forKey: .pod)
        address = try container.decode(IPv4Address.self, forKey: .address)
        allocatedAt = try container.decode(Int64.self, forKey: .allocatedAt)
        hostPorts = try container.decodeIfPresent([HostPort].self, forKey: .hostPorts) ?? []
    }

    /// Without host ports, the key is left out: a daemon rolled back to a version without them reads the state.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
        try container.encode(pod, forKey: .pod)
        try container.encode(address, forKey: .address)
        try container.encode(allocatedAt, forKey: .allocatedAt)
        if !hostPorts.isEmpty { try container.encode(hostPorts, forKey: .hostPorts) }
    }
}
