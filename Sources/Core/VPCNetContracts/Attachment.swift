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

/// An address held by an attachment: what the daemon persists, reports and hands back on DEL.
public struct Allocation: Hashable, Codable, Sendable {
    public var key: AttachmentKey
    public var pod: PodReference
    public var address: IPv4Address
    /// Milliseconds since the Unix epoch.
    public var allocatedAt: Int64

    public init(key: AttachmentKey, pod: PodReference, address: IPv4Address, allocatedAt: Int64) {
        self.key = key
        self.pod = pod
        self.address = address
        self.allocatedAt = allocatedAt
    }
}
