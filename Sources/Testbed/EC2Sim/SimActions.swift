import Foundation
import VPCNetCore

/// The result of one action: the XML answer and the deferred state transitions it started.
struct SimOutcome {
    var xml: String
    var events: [SimEvent] = []
    var pendingAttachments: [(eniID: String, attachmentID: String)] = []
    var pendingDetachments: [(eniID: String, attachmentID: String)] = []
}

/// EC2 actions over ``SimState``: parameter parsing, the state call, the XML answer.
enum SimActions {
    static let supported: Set<String> = [
        "RunInstances", "TerminateInstances", "DescribeInstances", "DescribeInstanceTypes", "CreateVpc", "DescribeVpcs",
        "CreateSubnet", "DescribeSubnets", "CreateSecurityGroup", "DescribeSecurityGroups", "CreateNetworkInterface",
        "AttachNetworkInterface", "DetachNetworkInterface", "DeleteNetworkInterface", "ModifyNetworkInterfaceAttribute",
        "AssignPrivateIpAddresses", "UnassignPrivateIpAddresses", "DescribeNetworkInterfaces", "CreateTags",
    ]

    static func handle(_ action: String, _ p: SimParameters, state: inout SimState, requestID: String) throws(SimError) -> SimOutcome {
        func respond(_ body: (inout XMLWriter) -> Void) -> String { XMLWriter.response(action: action, requestID: requestID, body) }
        func returnTrue() -> String { respond { $0.element("return", true) } }

        switch action {
        case "CreateVpc":
            let vpc = try state.createVPC(cidr: p.required("CidrBlock"), tags: p.tagSpecifications(for: "vpc"))
            return SimOutcome(xml: respond { w in w.open("vpc") { w in vpcXML(&w, vpc) } })

        case "DescribeVpcs":
            let ids = p.list("VpcId")
            var vpcs = state.vpcs.values.sorted { $0.id < $1.id }
            if !ids.isEmpty {
                for id in ids where state.vpcs[id] == nil { throw .notFound("InvalidVpcID.NotFound", id, "vpc") }
                vpcs = vpcs.filter { ids.contains($0.id) }
            }
            vpcs = try SimFilter.apply(p.filters(), to: vpcs, fields: [
                "vpc-id": { [$0.id] }, "cidr-block": { [$0.cidr.description] }, "cidr": { [$0.cidr.description] },
                "state": { _ in ["available"] },
            ], tags: \.tags)
            let (page, next) = try paginate(vpcs, p, explicitIDs: !ids.isEmpty, id: \.id)
            return SimOutcome(xml: respond { w in
                w.list("vpcSet", page) { w, vpc in vpcXML(&w, vpc) }
                w.element("nextToken", next)
            })

        case "CreateSubnet":
            let subnet = try state.createSubnet(vpcID: p.required("VpcId"), cidr: p.required("CidrBlock"),
                                                zone: p["AvailabilityZone"] ?? "\(state.region)a", tags: p.tagSpecifications(for: "subnet"))
            return SimOutcome(xml: respond { w in w.open("subnet") { w in subnetXML(&w, subnet, owner: state.ownerID) } })

        case "DescribeSubnets":
            let ids = p.list("SubnetId")
            var subnets = state.subnets.values.sorted { $0.id < $1.id }
            if !ids.isEmpty {
                for id in ids where state.subnets[id] == nil { throw .notFound("InvalidSubnetID.NotFound", id, "subnet") }
                subnets = subnets.filter { ids.contains($0.id) }
            }
            subnets = try SimFilter.apply(p.filters(), to: subnets, fields: [
                "subnet-id": { [$0.id] }, "vpc-id": { [$0.vpcID] }, "availability-zone": { [$0.availabilityZone] },
                "cidr-block": { [$0.cidr.description] }, "state": { _ in ["available"] },
            ], tags: \.tags)
            let (page, next) = try paginate(subnets, p, explicitIDs: !ids.isEmpty, id: \.id)
            return SimOutcome(xml: respond { w in
                w.list("subnetSet", page) { w, subnet in subnetXML(&w, subnet, owner: state.ownerID) }
                w.element("nextToken", next)
            })

        case "CreateSecurityGroup":
            let group = try state.createSecurityGroup(name: p.required("GroupName"), description: p.required("GroupDescription"),
                                                      vpcID: p.required("VpcId"), tags: p.tagSpecifications(for: "security-group"))
            return SimOutcome(xml: respond { w in
                w.element("return", true)
                w.element("groupId", group.id)
            })

        case "DescribeSecurityGroups":
            let ids = p.list("GroupId")
            var groups = state.groups.values.sorted { $0.id < $1.id }
            if !ids.isEmpty {
                for id in ids where state.groups[id] == nil { throw .notFound("InvalidGroup.NotFound", id, "security group") }
                groups = groups.filter { ids.contains($0.id) }
            }
            groups = try SimFilter.apply(p.filters(), to: groups, fields: [
                "group-id": { [$0.id] }, "group-name": { [$0.name] }, "vpc-id": { [$0.vpcID] },
            ], tags: \.tags)
            let (page, next) = try paginate(groups, p, explicitIDs: !ids.isEmpty, id: \.id)
            return SimOutcome(xml: respond { w in
                w.list("securityGroupInfo", page) { w, group in
                    w.element("ownerId", state.ownerID)
                    w.element("groupId", group.id)
                    w.element("groupName", group.name)
                    w.element("groupDescription", group.description)
                    w.element("vpcId", group.vpcID)
                    w.tags(group.tags)
                }
                w.element("nextToken", next)
            })

        case "RunInstances":
            let minCount = try p.int("MinCount") ?? 1, maxCount = try p.int("MaxCount") ?? minCount
            let instances = try state.runInstances(.init(
                imageID: p.required("ImageId"), instanceType: p["InstanceType"] ?? "m1.small", subnetID: p.required("SubnetId"),
                groupIDs: p.list("SecurityGroupId"), minCount: minCount, maxCount: maxCount, tags: p.tagSpecifications(for: "instance")))
            return SimOutcome(xml: respond { w in
                w.element("reservationId", "r-\(requestID.prefix(17).replacingOccurrences(of: "-", with: ""))")
                w.element("ownerId", state.ownerID)
                w.list("groupSet", [String]()) { _, _ in }
                w.list("instancesSet", instances) { w, instance in w.instance(instance, state: state) }
            })

        case "TerminateInstances":
            let ids = p.list("InstanceId")
            guard !ids.isEmpty else { throw .missing("InstanceId") }
            let changes = try state.terminate(ids)
            return SimOutcome(xml: respond { w in
                w.list("instancesSet", changes) { w, change in
                    w.element("instanceId", change.id)
                    w.open("currentState") { w in
                        w.element("code", SimInstance.stateCode("terminated"))
                        w.element("name", "terminated")
                    }
                    w.open("previousState") { w in
                        w.element("code", SimInstance.stateCode(change.previous))
                        w.element("name", change.previous)
                    }
                }
            })

        case "DescribeInstances":
            let ids = p.list("InstanceId")
            var instances = state.instances.values.sorted { $0.id < $1.id }
            if !ids.isEmpty {
                for id in ids where state.instances[id] == nil { throw .notFound("InvalidInstanceID.NotFound", id, "instance") }
                instances = instances.filter { ids.contains($0.id) }
            }
            let snapshot = state
            instances = try SimFilter.apply(p.filters(), to: instances, fields: [
                "instance-id": { [$0.id] }, "instance-state-name": { [$0.state] }, "instance-type": { [$0.instanceType] },
                "subnet-id": { [$0.subnetID] }, "vpc-id": { [$0.vpcID] }, "availability-zone": { [$0.availabilityZone] },
                "private-ip-address": { snapshot.attachedENIs($0.id).filter { $0.attachment?.deviceIndex == 0 }.map(\.primaryIP.description) },
                "network-interface.network-interface-id": { snapshot.attachedENIs($0.id).map(\.id) },
            ], tags: \.tags)
            let (page, next) = try paginate(instances, p, explicitIDs: !ids.isEmpty, id: \.id)
            return SimOutcome(xml: respond { w in
                w.list("reservationSet", page) { w, instance in
                    w.element("reservationId", "r-\(instance.id.dropFirst(2))")
                    w.element("ownerId", state.ownerID)
                    w.list("groupSet", [String]()) { _, _ in }
                    w.list("instancesSet", [instance]) { w, instance in w.instance(instance, state: state) }
                }
                w.element("nextToken", next)
            })

        case "DescribeInstanceTypes":
            let names = p.list("InstanceType")
            var types: [InstanceTypeLimits]
            if names.isEmpty {
                types = InstanceTypeLimits.all.values.sorted { $0.instanceType < $1.instanceType }
            } else {
                types = []
                for name in names {
                    guard let limits = InstanceTypeLimits.forType(name) else {
                        throw SimError("InvalidInstanceType", "The following supplied instance types do not exist: [\(name)]")
                    }
                    types.append(limits)
                }
            }
            let (page, next) = try paginate(types, p, explicitIDs: !names.isEmpty, maxPage: 100, id: \.instanceType)
            return SimOutcome(xml: respond { w in
                w.list("instanceTypeSet", page) { w, t in instanceTypeXML(&w, t) }
                w.element("nextToken", next)
            })

        default:
            return try SimENIActions.handle(action, p, state: &state, respond: respond, returnTrue: returnTrue)
        }
    }

    /// `MaxResults` (5…1000, 100 for instance types) and a `NextToken` cursor: the ID after which
    /// the next page starts, so deletions between pages skip nothing. `items` must be sorted by
    /// `id`. EC2 refuses `MaxResults` together with explicit IDs.
    static func paginate<T>(_ items: [T], _ p: SimParameters, explicitIDs: Bool, maxPage: Int = 1000,
                            id: (T) -> String) throws(SimError) -> ([T], String?) {
        let maxResults = try p.int("MaxResults")
        if maxResults != nil && explicitIDs {
            throw SimError("InvalidParameterCombination", "The parameter MaxResults cannot be used with explicit resource IDs")
        }
        var remaining = items[...]
        if let token = p["NextToken"] {
            guard token.hasPrefix("sim-"), token.count > 4 else { throw SimError("InvalidParameterValue", "The token '\(token)' is invalid") }
            let after = String(token.dropFirst(4))
            remaining = items.drop { id($0) <= after }
        }
        guard let maxResults else { return (Array(remaining), nil) }
        guard (5...maxPage).contains(maxResults) else {
            throw .invalid("Value (\(maxResults)) for parameter maxResults is invalid. Expecting a value between 5 and \(maxPage).")
        }
        let page = Array(remaining.prefix(maxResults))
        return (page, remaining.count > maxResults ? page.last.map { "sim-\(id($0))" } : nil)
    }

    static func vpcXML(_ w: inout XMLWriter, _ vpc: SimVPC) {
        w.element("vpcId", vpc.id)
        w.element("state", "available")
        w.element("cidrBlock", vpc.cidr.description)
        w.list("cidrBlockAssociationSet", [vpc.cidr]) { w, cidr in
            w.element("cidrBlock", cidr.description)
            w.element("associationId", "vpc-cidr-assoc-\(vpc.id.dropFirst(4))")
            w.open("cidrBlockState") { w in w.element("state", "associated") }
        }
        w.element("dhcpOptionsId", "default")
        w.element("instanceTenancy", "default")
        w.element("isDefault", false)
        w.tags(vpc.tags)
    }

    static func subnetXML(_ w: inout XMLWriter, _ subnet: SimSubnet, owner: String) {
        w.element("subnetId", subnet.id)
        w.element("state", "available")
        w.element("vpcId", subnet.vpcID)
        w.element("cidrBlock", subnet.cidr.description)
        w.element("availableIpAddressCount", subnet.availableCount)
        w.element("availabilityZone", subnet.availabilityZone)
        w.element("defaultForAz", false)
        w.element("mapPublicIpOnLaunch", false)
        w.element("ownerId", owner)
        w.element("subnetArn", "arn:aws:ec2:\(subnet.availabilityZone.dropLast()):\(owner):subnet/\(subnet.id)")
        w.tags(subnet.tags)
    }

    static func instanceTypeXML(_ w: inout XMLWriter, _ t: InstanceTypeLimits) {
        w.element("instanceType", t.instanceType)
        w.element("currentGeneration", true)
        w.element("bareMetal", t.isBareMetal)
        if t.hypervisor != .none { w.element("hypervisor", t.hypervisor.rawValue) }
        w.open("networkInfo") { w in
            w.element("maximumNetworkInterfaces", t.maxENIs)
            w.element("ipv4AddressesPerInterface", t.ipv4AddressesPerENI)
            w.element("ipv6AddressesPerInterface", t.ipv4AddressesPerENI)
            w.element("ipv6Supported", true)
            w.element("maximumNetworkCards", t.networkCards)
            w.element("defaultNetworkCardIndex", 0)
            let cards = (0..<t.networkCards).map { t.maxENIs(onCard: $0) }
            w.list("networkCards", Array(cards.enumerated())) { w, card in
                w.element("networkCardIndex", card.offset)
                w.element("maximumNetworkInterfaces", card.element)
            }
        }
    }
}
