import Netlink
import VPCNetCore
import VPCNetSettings

/// Everything the kernel should hold for one node record: the pure half of the daemon's host
/// networking, computed without touching the system (unit-tested without root).
public struct DatapathPlan: Sendable, Hashable {
    public struct ENILink: Sendable, Hashable {
        public var mac: MACAddress
        public var deviceIndex: Int
        public var mtu: UInt32
        /// The ENI's primary address as a /32: a subnet prefix would add a connected route to the
        /// main table, pulling the host's own subnet traffic onto this ENI.
        public var address: InterfaceAddress
        public var table: UInt32
        public var gateway: IPv4Address
    }

    public var links: [ENILink]
    /// Routes in vpcnet's tables, with `interfaceIndex` resolved by the caller from the MACs
    /// (``routes(interfaceIndexes:)``).
    public var rules: [Rule]
    public var iptables: IPTablesRules
    let primaryInterface: String
    let configuration: DatapathConfiguration

    public init(record: NodeNetworkRecord, configuration: DatapathConfiguration, primaryInterface: String) {
        self.configuration = configuration
        links = record.podENIs.map { eni in
            ENILink(mac: eni.macAddress, deviceIndex: eni.deviceIndex, mtu: configuration.mtu,
                    address: InterfaceAddress(eni.primaryIP, prefixLength: 32), table: configuration.table(forDeviceIndex: eni.deviceIndex),
                    gateway: eni.gateway)
        }
        let direct = record.vpcCIDRs + configuration.excludedSNATCIDRs
        var rules: [Rule] = [Rule(priority: configuration.connmarkPriority, table: 254, firewallMark: configuration.connmark)]
        for eni in record.podENIs {
            let table = configuration.table(forDeviceIndex: eni.deviceIndex)
            // A delegated prefix is one rule where its 16 addresses would be 16.
            let blocks = eni.secondaryIPs.map { IPv4CIDR(containing: $0, prefixLength: 32) } + eni.ipv4Prefixes
            for block in blocks {
                rules.append(Rule(priority: configuration.toPodPriority, table: 254, destination: block))
                if configuration.externalSNAT {
                    rules.append(Rule(priority: configuration.fromPodPriority, table: table, source: block))
                } else {
                    // Only VPC-bound traffic leaves through the ENI; the rest takes the main table
                    // to the primary interface, where it is SNATed to the node's address.
                    for cidr in direct { rules.append(Rule(priority: configuration.fromPodPriority, table: table, source: block, destination: cidr)) }
                }
            }
        }
        self.rules = rules
        self.primaryInterface = primaryInterface
        iptables = IPTablesRules(record: record, configuration: configuration, primaryInterface: primaryInterface)
    }

    /// Forwarding on, and loose reverse-path filtering where routing is asymmetric by design (a
    /// pod's traffic leaves through its ENI, the VPC's answers may arrive elsewhere).
    public func sysctls(interfaceNames: [MACAddress: String]) -> [String: String] {
        var sysctls = ["net/ipv4/ip_forward": "1", "net/ipv4/conf/\(primaryInterface)/rp_filter": "2"]
        for link in links { if let name = interfaceNames[link.mac] { sysctls["net/ipv4/conf/\(name)/rp_filter"] = "2" } }
        return sysctls
    }

    /// Each ENI table: the gateway on-link, and the default route through it.
    public func routes(interfaceIndexes: [MACAddress: Int32]) -> [Route] {
        links.flatMap { link -> [Route] in
            guard let index = interfaceIndexes[link.mac] else { return [] }
            return [
                Route(table: link.table, destination: IPv4CIDR(containing: link.gateway, prefixLength: 32), interfaceIndex: index,
                      scope: .link, protocolNumber: configuration.routeProtocol),
                Route(table: link.table, destination: IPv4CIDR(containing: IPv4Address(rawValue: 0), prefixLength: 0), gateway: link.gateway,
                      interfaceIndex: index, onLink: true, protocolNumber: configuration.routeProtocol),
            ]
        }
    }
}

/// What to add and remove so the kernel matches a plan, touching only what vpcnet owns.
public struct RoutingChanges: Sendable, Hashable {
    public var addRoutes: [Route] = []
    public var deleteRoutes: [Route] = []
    public var addRules: [Rule] = []
    public var deleteRules: [Rule] = []

    public var isEmpty: Bool { addRoutes.isEmpty && deleteRoutes.isEmpty && addRules.isEmpty && deleteRules.isEmpty }

    /// Differences between the desired routes/rules and what the kernel reports. Routes in tables
    /// vpcnet owns and rules at its priorities that are not desired are removed; nothing else is
    /// looked at.
    public static func between(desiredRoutes: [Route], desiredRules: [Rule], kernelRoutes: [Route], kernelRules: [Rule],
                               configuration: DatapathConfiguration) -> RoutingChanges {
        let ownedRoutes = kernelRoutes.filter { configuration.ownedTables.contains($0.table) }
        let ownedRules = kernelRules.filter { configuration.ownedPriorities.contains($0.priority) }
        let haveRoutes = Set(ownedRoutes), wantRoutes = Set(desiredRoutes)
        let haveRules = Set(ownedRules), wantRules = Set(desiredRules)
        var changes = RoutingChanges()
        changes.addRoutes = desiredRoutes.filter { !haveRoutes.contains($0) }
        changes.deleteRoutes = ownedRoutes.filter { !wantRoutes.contains($0) }
        changes.addRules = desiredRules.filter { !haveRules.contains($0) }
        changes.deleteRules = ownedRules.filter { !wantRules.contains($0) }
        return changes
    }
}
