#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import VPCNetCore

/// A node as its daemon sees it: what `GET /v1/status` on the introspection address returns and
/// `vpcnetctl status` shows. Read-only; addresses and allocations come from the IPAM's memory,
/// the record and last pass from the node agent.
public struct NodeStatus: Codable, Sendable {
    public struct Pool: Codable, Sendable {
        public var configured: Bool
        public var total: Int
        public var allocated: Int
        public var free: Int
        public var coolingDown: Int

        public init(configured: Bool, total: Int, allocated: Int, free: Int, coolingDown: Int) {
            self.configured = configured
            self.total = total
            self.allocated = allocated
            self.free = free
            self.coolingDown = coolingDown
        }
    }

    /// A pod ENI and the addresses the pool may hand out from it (none while its interface is missing).
    public struct ENI: Codable, Sendable {
        public var id: NetworkInterfaceID
        public var deviceIndex: Int
        public var macAddress: MACAddress
        public var subnetID: SubnetID
        public var subnetCIDR: IPv4CIDR
        public var primaryIP: IPv4Address
        /// The /28 prefixes EC2 delegated to the ENI (absent from daemons before prefix delegation).
        public var prefixes: [IPv4CIDR]?
        /// Its single secondary addresses.
        public var singleAddresses: [IPv4Address]?
        public var addresses: [AddressState]
        /// The NetworkProfile the ENI serves; absent: the node's own pods.
        public var profile: String?
        /// Its security groups (absent from daemons before profiles).
        public var securityGroupIDs: [SecurityGroupID]?

        public init(id: NetworkInterfaceID, deviceIndex: Int, macAddress: MACAddress, subnetID: SubnetID, subnetCIDR: IPv4CIDR,
                    primaryIP: IPv4Address, prefixes: [IPv4CIDR] = [], singleAddresses: [IPv4Address] = [], addresses: [AddressState],
                    profile: String? = nil, securityGroupIDs: [SecurityGroupID] = []) {
            self.id = id
            self.deviceIndex = deviceIndex
            self.macAddress = macAddress
            self.subnetID = subnetID
            self.subnetCIDR = subnetCIDR
            self.primaryIP = primaryIP
            self.prefixes = prefixes
            self.singleAddresses = singleAddresses
            self.addresses = addresses
            self.profile = profile
            self.securityGroupIDs = securityGroupIDs
        }
    }

    /// One NetworkProfile's addresses on the node.
    public struct ProfilePool: Codable, Sendable {
        public var name: String
        public var pool: Pool

        public init(name: String, pool: Pool) {
            self.name = name
            self.pool = pool
        }
    }

    public var nodeName: String
    public var generatedAt: Date
    /// The last pass that finished left the CNI configuration written and the
    /// no-interface-configured taint gone (a failed pass clears it; waiting does not).
    public var ready: Bool
    public var lastPass: PassReport?
    /// The addresses of pods without a profile.
    public var pool: Pool
    /// Each profile the node carries (absent from daemons before profiles).
    public var profiles: [ProfilePool]?
    public var enis: [ENI]
    public var allocations: [Allocation]
    /// The node network record the host is configured for (nil until the controller wrote one).
    public var record: NodeNetworkRecord?

    public init(nodeName: String, generatedAt: Date, ready: Bool, lastPass: PassReport?, pool: Pool, profiles: [ProfilePool] = [],
                enis: [ENI], allocations: [Allocation], record: NodeNetworkRecord?) {
        self.profiles = profiles
        self.nodeName = nodeName
        self.generatedAt = generatedAt
        self.ready = ready
        self.lastPass = lastPass
        self.pool = pool
        self.enis = enis
        self.allocations = allocations
        self.record = record
    }

    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

/// The last pass, as the introspection endpoint shows it.
public struct PassReport: Codable, Sendable, Hashable {
    public var finishedAt: Date
    public var durationSeconds: Double
    /// `ready`, `waiting` or `failed`.
    public var result: String
    public var detail: String

    public init(finishedAt: Date, durationSeconds: Double, result: String, detail: String) {
        self.finishedAt = finishedAt
        self.durationSeconds = durationSeconds
        self.result = result
        self.detail = detail
    }
}
