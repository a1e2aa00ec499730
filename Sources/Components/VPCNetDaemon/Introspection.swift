import Foundation
import IPAM
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
    }

    /// A pod ENI and the addresses the pool may hand out from it (none while its interface is missing).
    public struct ENI: Codable, Sendable {
        public var id: NetworkInterfaceID
        public var deviceIndex: Int
        public var macAddress: MACAddress
        public var subnetID: SubnetID
        public var subnetCIDR: IPv4CIDR
        public var primaryIP: IPv4Address
        public var addresses: [AddressState]
    }

    public var nodeName: String
    public var generatedAt: Date
    /// The last pass that finished left the CNI configuration written and the
    /// no-interface-configured taint gone (a failed pass clears it; waiting does not).
    public var ready: Bool
    public var lastPass: PassReport?
    public var pool: Pool
    public var enis: [ENI]
    public var allocations: [Allocation]
    /// The node network record the host is configured for (nil until the controller wrote one).
    public var record: NodeNetworkRecord?

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

/// Builds ``NodeStatus`` from the running daemon's parts.
public struct Introspection: Sendable {
    let nodeName: String
    let manager: AddressManager
    let agent: NodeAgent

    public func status() async -> NodeStatus {
        let pool = await manager.status
        let states = await manager.addressStates
        let record = agent.record
        let byENI = Dictionary(grouping: states, by: \.eniID)
        let enis = (record?.podENIs ?? []).map { eni in
            NodeStatus.ENI(id: eni.id, deviceIndex: eni.deviceIndex, macAddress: eni.macAddress, subnetID: eni.subnetID,
                           subnetCIDR: eni.subnetCIDR, primaryIP: eni.primaryIP, addresses: byENI[eni.id] ?? [])
        }
        return NodeStatus(nodeName: nodeName, generatedAt: Date(), ready: agent.isReady, lastPass: agent.lastPass,
                          pool: .init(configured: pool.configured, total: pool.total, allocated: pool.allocated, free: pool.free,
                                      coolingDown: pool.coolingDown),
                          enis: enis, allocations: await manager.allocations, record: record)
    }

    public func json() async -> [UInt8] {
        let status = await status()
        // Encoding these plain values cannot fail; an empty object would still be valid JSON.
        return Array((try? NodeStatus.encoder.encode(status)) ?? Data("{}".utf8))
    }
}
