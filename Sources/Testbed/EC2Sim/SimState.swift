import VPCNetCore

/// What happened to the simulated hardware, for the simulated hypervisor and VPC fabric.
public enum SimEvent: Sendable, Hashable {
    /// An attachment finished (`attached`): the instance now has this ENI at its device index.
    case attached(SimENI)
    /// A detachment finished: the ENI left the instance.
    case detached(SimENI, instanceID: String)
    /// Single addresses and /28 prefixes added to an ENI.
    case addressesAssigned(eniID: String, [IPv4Address], prefixes: [IPv4CIDR])
    case addressesUnassigned(eniID: String, [IPv4Address], prefixes: [IPv4CIDR])
    case instanceTerminated(instanceID: String)
    /// A security group's rules or an ENI's groups changed: what the VPC admits is
    /// ``EC2Simulator/securityView`` now.
    case securityChanged
}

/// The simulated EC2 region: every resource and every rule of the state machines.
///
/// Not thread-safe; ``EC2Simulator`` serialises access. Each mutating call either succeeds
/// completely or throws a ``SimError`` and changes nothing, as EC2 API calls do.
struct SimState {
    let region: String
    let ownerID = "123456789012"
    var vpcs: [String: SimVPC] = [:]
    var subnets: [String: SimSubnet] = [:]
    var groups: [String: SimSecurityGroup] = [:]
    var groupRules: [String: SimSecurityGroupRule] = [:]
    var instances: [String: SimInstance] = [:]
    var enis = SimENIStore()
    var usedIDs: Set<String> = []
    var usedMACs: Set<String> = []
    /// ClientToken → what it created, for idempotent CreateNetworkInterface.
    var clientTokens: [String: (eniID: String, subnetID: String)] = [:]
    /// Hardware changes committed but not yet delivered to hooks, in commit order.
    var pendingEvents: [SimEvent] = []
    var clock: @Sendable () -> String

    init(region: String, clock: @escaping @Sendable () -> String) {
        self.region = region
        self.clock = clock
    }

    // MARK: IDs

    mutating func newID(_ prefix: String) -> String {
        while true {
            var digits = ""
            for _ in 0..<17 { digits.append("0123456789abcdef".randomElement()!) }
            let id = "\(prefix)-\(digits)"
            if usedIDs.insert(id).inserted { return id }
        }
    }

    mutating func newMAC() -> String {
        while true {
            let bytes: [UInt8] = [0x0a] + (0..<5).map { _ in UInt8.random(in: 0...255) }
            let mac = MACAddress(bytes: bytes)!.description
            if usedMACs.insert(mac).inserted { return mac }
        }
    }

    func isZone(_ zone: String) -> Bool {
        zone.count == region.count + 1 && zone.hasPrefix(region) && zone.last!.isLetter && zone.last!.isLowercase
    }

    // MARK: VPCs, subnets, groups

    mutating func createVPC(cidr text: String, tags: [SimTag]) throws(SimError) -> SimVPC {
        guard let cidr = try? IPv4CIDR(parsing: text), (16...28).contains(cidr.prefixLength) else {
            throw SimError("InvalidVpc.Range", "The CIDR '\(text)' is invalid (a VPC is /16 to /28).")
        }
        let vpc = SimVPC(id: newID("vpc"), cidr: cidr, tags: tags)
        vpcs[vpc.id] = vpc
        let group = SimSecurityGroup(id: newID("sg"), name: "default", description: "default VPC security group", vpcID: vpc.id, tags: [])
        groups[group.id] = group
        addDefaultRules(to: group, isDefault: true)
        return vpc
    }

    mutating func createSubnet(vpcID: String, cidr text: String, zone: String, tags: [SimTag]) throws(SimError) -> SimSubnet {
        guard let vpc = vpcs[vpcID] else { throw .notFound("InvalidVpcID.NotFound", vpcID, "vpc") }
        guard let cidr = try? IPv4CIDR(parsing: text), (16...28).contains(cidr.prefixLength), vpc.cidr.contains(cidr) else {
            throw SimError("InvalidSubnet.Range", "The CIDR '\(text)' is invalid.")
        }
        guard isZone(zone) else { throw .invalid("Value (\(zone)) for parameter availabilityZone is invalid.") }
        if subnets.values.contains(where: { $0.vpcID == vpcID && $0.cidr.overlaps(cidr) }) {
            throw SimError("InvalidSubnet.Conflict", "The CIDR '\(text)' conflicts with another subnet")
        }
        var subnet = SimSubnet(id: newID("subnet"), vpcID: vpcID, cidr: cidr, availabilityZone: zone, tags: tags)
        subnet.cursor = cidr.network.rawValue + 4
        subnets[subnet.id] = subnet
        return subnet
    }

    mutating func createSecurityGroup(name: String, description: String, vpcID: String, tags: [SimTag]) throws(SimError) -> SimSecurityGroup {
        guard vpcs[vpcID] != nil else { throw .notFound("InvalidVpcID.NotFound", vpcID, "vpc") }
        if groups.values.contains(where: { $0.vpcID == vpcID && $0.name == name }) {
            throw SimError("InvalidGroup.Duplicate", "The security group '\(name)' already exists for VPC '\(vpcID)'")
        }
        let group = SimSecurityGroup(id: newID("sg"), name: name, description: description, vpcID: vpcID, tags: tags)
        groups[group.id] = group
        addDefaultRules(to: group, isDefault: false)
        return group
    }

    // MARK: Address allocation

    /// Takes `count` free addresses of the subnet (or none, throwing), in ascending order from the cursor.
    mutating func allocate(_ count: Int, in subnetID: String) throws(SimError) -> [IPv4Address] {
        guard var subnet = subnets[subnetID] else { throw .notFound("InvalidSubnetID.NotFound", subnetID, "subnet") }
        guard count <= subnet.unreservedCount else {
            throw SimError("InsufficientFreeAddressesInSubnet",
                           "The specified subnet \(subnetID) does not have enough free addresses to satisfy the request.")
        }
        let first = subnet.cidr.network.rawValue + 4, last = subnet.cidr.broadcast.rawValue - 1
        var result: [IPv4Address] = []
        var candidate = subnet.cursor
        while result.count < count {
            if candidate > last || candidate < first { candidate = first }
            let address = IPv4Address(rawValue: candidate)
            if !subnet.used.contains(address) && !subnet.isReserved(address) {
                subnet.used.insert(address)
                result.append(address)
            }
            candidate += 1
        }
        subnet.cursor = candidate
        subnets[subnetID] = subnet
        return result
    }

    /// Reserves specific addresses, all or none.
    mutating func reserve(_ addresses: [IPv4Address], in subnetID: String) throws(SimError) {
        guard var subnet = subnets[subnetID] else { throw .notFound("InvalidSubnetID.NotFound", subnetID, "subnet") }
        let reserved = Set(subnet.cidr.awsReservedAddresses)
        for address in addresses {
            guard subnet.cidr.contains(address), !reserved.contains(address) else {
                throw .invalid("Address \(address) is not a usable address of subnet \(subnet.cidr)")
            }
            guard !subnet.used.contains(address) else {
                throw SimError("InvalidIPAddress.InUse", "Address \(address) is in use.")
            }
        }
        guard Set(addresses).count == addresses.count else { throw .invalid("Duplicate addresses in the request") }
        subnet.used.formUnion(addresses)
        subnets[subnetID] = subnet
    }

    /// Takes `count` aligned /28 prefixes whose 16 addresses are all free and not AWS's: from the
    /// subnet's `prefix` reservations when it has any, else from space no reservation holds ("If the
    /// subnet … has a subnet CIDR reservation of type prefix, we select the prefixes from the subnet
    /// CIDR reservation. Otherwise, we select them from the subnet CIDR range": EC2 User Guide,
    /// prefix delegation).
    mutating func allocatePrefixes(_ count: Int, in subnetID: String) throws(SimError) -> [IPv4CIDR] {
        guard var subnet = subnets[subnetID] else { throw .notFound("InvalidSubnetID.NotFound", subnetID, "subnet") }
        let reserved = Set(subnet.cidr.awsReservedAddresses)
        let kept = subnet.reservations.filter { $0.kind == .prefix }.flatMap { $0.cidr.subnets(prefixLength: 28) }
        let candidates = !kept.isEmpty ? kept
            : subnet.cidr.subnets(prefixLength: 28).filter { prefix in !subnet.reservations.contains { $0.cidr.overlaps(prefix) } }
        var result: [IPv4CIDR] = []
        for prefix in candidates where result.count < count {
            if prefix.addresses.allSatisfy({ !subnet.used.contains($0) && !reserved.contains($0) }) { result.append(prefix) }
        }
        guard result.count == count else {
            throw SimError("InsufficientCidrBlocks",
                           "The specified subnet does not have enough contiguous free address space to satisfy the request.")
        }
        for prefix in result { subnet.used.formUnion(prefix.addresses) }
        subnets[subnetID] = subnet
        return result
    }

    mutating func release(_ addresses: [IPv4Address], in subnetID: String) {
        subnets[subnetID]?.used.subtract(addresses)
    }
}
