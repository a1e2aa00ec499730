import VPCNetCore

extension SimState {
    struct RunInstances {
        var imageID: String
        var instanceType: String
        var subnetID: String
        var groupIDs: [String]
        var minCount: Int
        var maxCount: Int
        var tags: [SimTag]
    }

    /// Launches `count` running instances, each with its primary ENI at device index 0
    /// (DeleteOnTermination true), as EC2 does.
    mutating func runInstances(_ request: RunInstances) throws(SimError) -> [SimInstance] {
        guard let limits = InstanceTypeLimits.forType(request.instanceType) else {
            throw SimError("InvalidParameterValue", "Invalid value '\(request.instanceType)' for InstanceType.")
        }
        guard let subnet = subnets[request.subnetID] else { throw .notFound("InvalidSubnetID.NotFound", request.subnetID, "subnet") }
        guard (1...1000).contains(request.minCount), (request.minCount...1000).contains(request.maxCount) else {
            throw .invalid("MinCount and MaxCount must be between 1 and 1000, MinCount no larger than MaxCount")
        }
        var next = self
        let groupIDs = request.groupIDs.isEmpty ? next.defaultGroup(vpcID: subnet.vpcID) : request.groupIDs
        try next.checkGroups(groupIDs, vpcID: subnet.vpcID)
        // As EC2: launch as many as capacity allows up to MaxCount, and fail only below MinCount.
        let count = min(request.maxCount, subnet.availableCount)
        guard count >= request.minCount else {
            throw SimError("InsufficientFreeAddressesInSubnet", "There are not enough free addresses in subnet '\(subnet.id)' to satisfy the requested number of instances.")
        }
        var launched: [SimInstance] = []
        for _ in 0..<count {
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
            next.instances[instance.id] = instance
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
            for eni in enis.attached(to: id) {
                // Every ENI leaves the instance; those with DeleteOnTermination also free their addresses.
                var detached = eni
                detached.attachment = nil
                detached.status = "available"
                pendingEvents.append(.detached(detached, instanceID: id))
                if eni.attachment!.deleteOnTermination {
                    release(eni.allAddresses, in: eni.subnetID)
                    enis[eni.id] = nil
                    pendingEvents.append(.addressesUnassigned(eniID: eni.id, [eni.primaryIP] + eni.secondaryIPs, prefixes: eni.prefixes))
                } else {
                    enis[eni.id] = detached
                }
            }
            pendingEvents.append(.instanceTerminated(instanceID: id))
            result.append((id, previous))
        }
        return result
    }

    /// The ENIs attached to an instance, by device index.
    func attachedENIs(_ instanceID: String) -> [SimENI] {
        enis.attached(to: instanceID)
    }
}
