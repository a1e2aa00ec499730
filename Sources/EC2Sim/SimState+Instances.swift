import VPCNetCore

extension SimState {
    struct RunInstances {
        var imageID: String
        var instanceType: String
        var subnetID: String
        var groupIDs: [String]
        var count: Int
        var tags: [SimTag]
    }

    /// Launches `count` running instances, each with its primary ENI at device index 0
    /// (DeleteOnTermination true), as EC2 does.
    mutating func runInstances(_ request: RunInstances) throws(SimError) -> [SimInstance] {
        guard let limits = InstanceTypeLimits.forType(request.instanceType) else {
            throw SimError("InvalidParameterValue", "Invalid value '\(request.instanceType)' for InstanceType.")
        }
        guard let subnet = subnets[request.subnetID] else { throw .notFound("InvalidSubnetID.NotFound", request.subnetID, "subnet") }
        guard (1...1000).contains(request.count) else { throw .invalid("MinCount and MaxCount must be between 1 and 1000") }
        var next = self
        let groupIDs = request.groupIDs.isEmpty ? next.defaultGroup(vpcID: subnet.vpcID) : request.groupIDs
        try next.checkGroups(groupIDs, vpcID: subnet.vpcID)
        guard next.subnets[subnet.id]!.availableCount >= request.count else {
            throw SimError("InsufficientFreeAddressesInSubnet", "There are not enough free addresses in subnet '\(subnet.id)' to satisfy the requested number of instances.")
        }
        var launched: [SimInstance] = []
        for _ in 0..<request.count {
            let instance = SimInstance(id: next.newID("i"), instanceType: request.instanceType, imageID: request.imageID,
                                       availabilityZone: subnet.availabilityZone, subnetID: subnet.id, vpcID: subnet.vpcID,
                                       state: "running", groupIDs: groupIDs, tags: request.tags, launchTime: clock(), limits: limits)
            let primary = try next.allocate(1, in: subnet.id)[0]
            let eni = SimENI(id: next.newID("eni"), subnetID: subnet.id, vpcID: subnet.vpcID, availabilityZone: subnet.availabilityZone,
                             description: "Primary network interface", status: "in-use", macAddress: next.newMAC(), primaryIP: primary,
                             secondaryIPs: [], prefixes: [], groupIDs: groupIDs,
                             attachment: SimAttachment(id: next.newID("eni-attach"), instanceID: instance.id, deviceIndex: 0,
                                                       networkCardIndex: 0, status: "attached", deleteOnTermination: true,
                                                       attachTime: clock()),
                             tags: [], sourceDestCheck: true, ownerID: ownerID)
            next.enis[eni.id] = eni
            next.eniOrder.append(eni.id)
            next.instances[instance.id] = instance
            next.instanceOrder.append(instance.id)
            launched.append(instance)
        }
        self = next
        return launched
    }

    /// Terminates instances: ENIs with DeleteOnTermination are deleted, the others detached.
    mutating func terminate(_ ids: [String]) throws(SimError) -> [(id: String, previous: String)] {
        for id in ids { _ = try instance(id) }
        var result: [(String, String)] = []
        for id in ids {
            let previous = instances[id]!.state
            instances[id]!.state = "terminated"
            for eni in enis.values where eni.attachment?.instanceID == id {
                if eni.attachment!.deleteOnTermination {
                    release(eni.allAddresses, in: eni.subnetID)
                    enis[eni.id] = nil
                    eniOrder.removeAll { $0 == eni.id }
                } else {
                    enis[eni.id]!.attachment = nil
                    enis[eni.id]!.status = "available"
                }
            }
            result.append((id, previous))
        }
        return result
    }

    /// The ENIs attached to an instance, by device index.
    func attachedENIs(_ instanceID: String) -> [SimENI] {
        enis.values.filter { $0.attachment?.instanceID == instanceID }.sorted { $0.attachment!.deviceIndex < $1.attachment!.deviceIndex }
    }
}
