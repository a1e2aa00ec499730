import Foundation
import IPAM
import VPCNetContracts
import VPCNetCore

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
                           subnetCIDR: eni.subnetCIDR, primaryIP: eni.primaryIP, prefixes: eni.ipv4Prefixes,
                           singleAddresses: eni.secondaryIPs, addresses: byENI[eni.id] ?? [], profile: eni.profile,
                           securityGroupIDs: eni.securityGroupIDs)
        }
        let profiles = await manager.profileStatuses.map { entry in
            NodeStatus.ProfilePool(name: entry.profile, pool: .init(configured: entry.status.configured, total: entry.status.total,
                                                                   allocated: entry.status.allocated, free: entry.status.free,
                                                                   coolingDown: entry.status.coolingDown))
        }
        return NodeStatus(nodeName: nodeName, generatedAt: Date(), ready: agent.isReady, lastPass: agent.lastPass,
                          pool: .init(configured: pool.configured, total: pool.total, allocated: pool.allocated, free: pool.free,
                                      coolingDown: pool.coolingDown),
                          profiles: profiles, enis: enis, allocations: await manager.allocations, record: record)
    }

    public func json() async -> [UInt8] {
        let status = await status()
        // Encoding these plain values cannot fail; an empty object would still be valid JSON.
        return Array((try? NodeStatus.encoder.encode(status)) ?? Data("{}".utf8))
    }
}
