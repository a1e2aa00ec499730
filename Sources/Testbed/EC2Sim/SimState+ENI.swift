import VPCNetCore

/// EC2's per-ENI ceiling for ENIs that are not attached: the largest instance types' figure.
let unattachedAddressLimit = 50

extension SimState {
    func eni(_ id: String) throws(SimError) -> SimENI {
        guard let eni = enis[id] else { throw .notFound("InvalidNetworkInterfaceID.NotFound", id, "network interface") }
        return eni
    }

    func instance(_ id: String) throws(SimError) -> SimInstance {
        guard let instance = instances[id] else {
            throw .notFound("InvalidInstanceID.NotFound", id, "instance")
        }
        return instance
    }

    func checkGroups(_ ids: [String], vpcID: String) throws(SimError) {
        for id in ids {
            guard let group = groups[id] else { throw .notFound("InvalidGroup.NotFound", id, "security group") }
            guard group.vpcID == vpcID else { throw .invalid("Security group \(id) does not belong to VPC \(vpcID)") }
        }
    }

    /// The address-slot limit an ENI is held to: its instance type's when attached.
    func addressLimit(for eni: SimENI) -> Int {
        guard let attachment = eni.attachment, let instance = instances[attachment.instanceID] else { return unattachedAddressLimit }
        return instance.limits.ipv4AddressesPerENI
    }

    // MARK: Create / delete

    struct CreateENI {
        var subnetID: String
        var groupIDs: [String]
        var description: String
        var tags: [SimTag]
        var primaryIP: IPv4Address?
        var secondaryCount: Int
        var secondaryIPs: [IPv4Address]
        var prefixCount: Int
        var clientToken: String?
    }

    mutating func createENI(_ request: CreateENI) throws(SimError) -> SimENI {
        if let token = request.clientToken, let existing = clientTokens[token] {
            // EC2: the same token with the same request returns the first result; with another
            // request it is an error.
            guard existing.subnetID == request.subnetID, let eni = enis[existing.eniID] else {
                throw SimError("IdempotentParameterMismatch", "The client token \(token) was already used with different parameters.")
            }
            return eni
        }
        guard let subnet = subnets[request.subnetID] else { throw .notFound("InvalidSubnetID.NotFound", request.subnetID, "subnet") }
        let groupIDs = request.groupIDs.isEmpty ? defaultGroup(vpcID: subnet.vpcID) : request.groupIDs
        try checkGroups(groupIDs, vpcID: subnet.vpcID)
        let slots = 1 + request.secondaryCount + request.secondaryIPs.count + request.prefixCount
        guard slots <= unattachedAddressLimit else {
            throw SimError("PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit.")
        }
        // All or nothing: allocate into a copy and commit only on success.
        var next = self
        var primary: IPv4Address
        if let wanted = request.primaryIP {
            try next.reserve([wanted], in: subnet.id)
            primary = wanted
        } else {
            primary = try next.allocate(1, in: subnet.id)[0]
        }
        try next.reserve(request.secondaryIPs, in: subnet.id)
        let secondaries = try request.secondaryIPs + next.allocate(request.secondaryCount, in: subnet.id)
        let prefixes = try next.allocatePrefixes(request.prefixCount, in: subnet.id)
        let eni = SimENI(id: next.newID("eni"), subnetID: subnet.id, vpcID: subnet.vpcID, availabilityZone: subnet.availabilityZone,
                         description: request.description, status: "available", macAddress: next.newMAC(), primaryIP: primary,
                         secondaryIPs: secondaries, prefixes: prefixes, groupIDs: groupIDs, attachment: nil, tags: request.tags,
                         sourceDestCheck: true, ownerID: ownerID)
        next.enis[eni.id] = eni
        if let token = request.clientToken { next.clientTokens[token] = (eni.id, subnet.id) }
        self = next
        return eni
    }

    /// The VPC's `default` group, created with the VPC as in EC2.
    func defaultGroup(vpcID: String) -> [String] {
        groups.values.first { $0.vpcID == vpcID && $0.name == "default" }.map { [$0.id] } ?? []
    }

    mutating func deleteENI(_ id: String) throws(SimError) {
        let eni = try eni(id)
        guard eni.attachment == nil, eni.status == "available" else {
            throw SimError("InvalidNetworkInterface.InUse", "The network interface '\(id)' is currently in use.")
        }
        release(eni.allAddresses, in: eni.subnetID)
        enis[id] = nil
    }

    // MARK: Attach / detach

    /// Starts an attachment (`attaching`); ``completeAttachment(eniID:)`` finishes it.
    mutating func attach(eniID: String, instanceID: String, deviceIndex: Int, networkCardIndex: Int) throws(SimError) -> SimAttachment {
        var eni = try eni(eniID)
        let instance = try instance(instanceID)
        guard instance.state == "running" || instance.state == "pending" else {
            throw SimError("IncorrectInstanceState", "The instance '\(instanceID)' is not in a valid state for this operation.")
        }
        guard eni.attachment == nil else {
            throw SimError("InvalidNetworkInterface.InUse", "Interface: [\(eniID)] in use.")
        }
        guard eni.availabilityZone == instance.availabilityZone else {
            throw SimError("InvalidParameterCombination",
                           "You may not attach a network interface to an instance if they are not in the same availability zone")
        }
        guard instance.limits.maxENIs(onCard: networkCardIndex) > 0 else {
            throw .invalid("Network card index \(networkCardIndex) is not valid for \(instance.instanceType)")
        }
        let attached = enis.attached(to: instanceID)
        guard deviceIndex >= 0, !attached.contains(where: { $0.attachment?.deviceIndex == deviceIndex && $0.attachment?.networkCardIndex == networkCardIndex }) else {
            throw .invalid("Instance '\(instanceID)' already has an interface attached at device index '\(deviceIndex)'.")
        }
        let onCard = attached.filter { $0.attachment?.networkCardIndex == networkCardIndex }.count
        guard attached.count < instance.limits.maxENIs, onCard < instance.limits.maxENIs(onCard: networkCardIndex) else {
            throw SimError("AttachmentLimitExceeded",
                           "Interface count \(attached.count + 1) exceeds the limit for \(instance.instanceType)")
        }
        guard eni.slotsUsed <= instance.limits.ipv4AddressesPerENI else {
            throw SimError("PrivateIpAddressLimitExceeded",
                           "Number of private addresses will exceed limit for \(instance.instanceType) (\(instance.limits.ipv4AddressesPerENI) per interface).")
        }
        if !eni.prefixes.isEmpty && !instance.limits.supportsPrefixDelegation {
            throw .invalid("Prefix delegation is not supported on instance type \(instance.instanceType)")
        }
        let attachment = SimAttachment(id: newID("eni-attach"), instanceID: instanceID, deviceIndex: deviceIndex,
                                       networkCardIndex: networkCardIndex, status: "attaching", deleteOnTermination: false,
                                       attachTime: clock())
        eni.attachment = attachment
        eni.status = "attaching"
        enis[eniID] = eni
        return attachment
    }

    mutating func completeAttachment(eniID: String, attachmentID: String) -> SimEvent? {
        guard var eni = enis[eniID], var attachment = eni.attachment, attachment.id == attachmentID, attachment.status == "attaching" else {
            return nil
        }
        attachment.status = "attached"
        eni.attachment = attachment
        eni.status = "in-use"
        enis[eniID] = eni
        return .attached(eni)
    }

    mutating func detach(attachmentID: String) throws(SimError) -> SimENI {
        guard var eni = enis.withAttachment(attachmentID), var attachment = eni.attachment else {
            throw SimError("InvalidAttachmentID.NotFound", "The attachment ID '\(attachmentID)' does not exist")
        }
        guard attachment.deviceIndex != 0 else {
            throw SimError("OperationNotPermitted", "The network interface at device index 0 cannot be detached.")
        }
        guard attachment.status != "detaching" else { return eni }
        attachment.status = "detaching"
        eni.attachment = attachment
        eni.status = "detaching"
        enis[eni.id] = eni
        return eni
    }

    mutating func completeDetachment(eniID: String, attachmentID: String) -> SimEvent? {
        guard var eni = enis[eniID], let attachment = eni.attachment, attachment.id == attachmentID else { return nil }
        eni.attachment = nil
        eni.status = "available"
        enis[eniID] = eni
        return .detached(eni, instanceID: attachment.instanceID)
    }

    mutating func setDeleteOnTermination(eniID: String, attachmentID: String, _ value: Bool) throws(SimError) {
        var eni = try eni(eniID)
        guard var attachment = eni.attachment, attachment.id == attachmentID else {
            throw SimError("InvalidAttachmentID.NotFound", "The attachment ID '\(attachmentID)' does not exist")
        }
        attachment.deleteOnTermination = value
        eni.attachment = attachment
        enis[eniID] = eni
    }

    // MARK: Addresses

    mutating func assign(eniID: String, count: Int, addresses: [IPv4Address], prefixCount: Int, prefixes: [IPv4CIDR])
        throws(SimError) -> (addresses: [IPv4Address], prefixes: [IPv4CIDR]) {
        var eni = try eni(eniID)
        guard (0...unattachedAddressLimit).contains(count), (0...unattachedAddressLimit).contains(prefixCount) else {
            throw .invalid("Counts must be between 0 and \(unattachedAddressLimit).")
        }
        let kinds = [count > 0, !addresses.isEmpty, prefixCount > 0, !prefixes.isEmpty].filter { $0 }.count
        guard kinds <= 1 else {
            throw SimError("InvalidParameterCombination", "Specify only one of a count, addresses, a prefix count or prefixes.")
        }
        let adding = count + addresses.count + prefixCount + prefixes.count
        guard adding > 0 else { throw .missing("SecondaryPrivateIpAddressCount, PrivateIpAddress, Ipv4PrefixCount or Ipv4Prefix") }
        guard eni.slotsUsed + adding <= addressLimit(for: eni) else {
            throw SimError("PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit.")
        }
        if prefixCount + prefixes.count > 0, let id = eni.attachment?.instanceID, let instance = instances[id],
           !instance.limits.supportsPrefixDelegation {
            throw .invalid("Prefix delegation is not supported on instance type \(instance.instanceType)")
        }
        var next = self
        try next.reserve(addresses, in: eni.subnetID)
        let newAddresses = try addresses + next.allocate(count, in: eni.subnetID)
        for prefix in prefixes {
            guard prefix.prefixLength == 28, next.subnets[eni.subnetID]?.cidr.contains(prefix) == true else {
                throw .invalid("Prefix \(prefix) is not a /28 of the subnet")
            }
            try next.reserve(Array(prefix.addresses), in: eni.subnetID)
        }
        let newPrefixes = try prefixes + next.allocatePrefixes(prefixCount, in: eni.subnetID)
        eni.secondaryIPs += newAddresses
        eni.prefixes += newPrefixes
        next.enis[eniID] = eni
        self = next
        return (newAddresses, newPrefixes)
    }

    mutating func unassign(eniID: String, addresses: [IPv4Address], prefixes: [IPv4CIDR]) throws(SimError) -> [IPv4Address] {
        var eni = try eni(eniID)
        for address in addresses where !eni.secondaryIPs.contains(address) {
            throw SimError("InvalidParameterValue", "Some of the specified addresses are not assigned to interface \(eniID)")
        }
        for prefix in prefixes where !eni.prefixes.contains(prefix) {
            throw SimError("InvalidParameterValue", "Some of the specified prefixes are not assigned to interface \(eniID)")
        }
        eni.secondaryIPs.removeAll { addresses.contains($0) }
        eni.prefixes.removeAll { prefixes.contains($0) }
        let released = addresses + prefixes.flatMap { Array($0.addresses) }
        release(released, in: eni.subnetID)
        enis[eniID] = eni
        return released
    }
}
