import AWSEC2
import VPCNetCore

/// The actions on VPCs, subnets, security groups, instances and instance types.
enum SimNetworkActions {
    static let handlers: [SimAction: SimHandler] = [
        .testbed(.createVpc): { p, state, reply throws(SimError) in
            let vpc = try state.createVPC(cidr: p.required("CidrBlock"), tags: p.tagSpecifications(for: "vpc"))
            return SimOutcome(xml: reply.xml { w in w.open("vpc") { w in vpcXML(&w, vpc) } })
        },
        .client(.describeVpcs): { p, state, reply throws(SimError) in
            let (page, next) = try SimActions.describe(Array(state.vpcs.values), p, ids: "VpcId", exists: { state.vpcs[$0] != nil },
                                                       notFound: { .notFound("InvalidVpcID.NotFound", $0, "vpc") }, fields: [
                "vpc-id": { [$0.id] }, "cidr-block": { [$0.cidr.description] }, "cidr": { [$0.cidr.description] },
                "state": { _ in ["available"] },
            ], tags: \.tags, id: \.id)
            return SimOutcome(xml: reply.xml { w in
                w.list("vpcSet", page) { w, vpc in vpcXML(&w, vpc) }
                w.element("nextToken", next)
            })
        },
        .testbed(.createSubnet): { p, state, reply throws(SimError) in
            let subnet = try state.createSubnet(vpcID: p.required("VpcId"), cidr: p.required("CidrBlock"),
                                                zone: p["AvailabilityZone"] ?? "\(state.region)a", tags: p.tagSpecifications(for: "subnet"))
            return SimOutcome(xml: reply.xml { w in w.open("subnet") { w in subnetXML(&w, subnet, owner: state.ownerID) } })
        },
        .client(.describeSubnets): { p, state, reply throws(SimError) in
            let (page, next) = try SimActions.describe(Array(state.subnets.values), p, ids: "SubnetId", exists: { state.subnets[$0] != nil },
                                                       notFound: { .notFound("InvalidSubnetID.NotFound", $0, "subnet") }, fields: [
                "subnet-id": { [$0.id] }, "vpc-id": { [$0.vpcID] }, "availability-zone": { [$0.availabilityZone] },
                "cidr-block": { [$0.cidr.description] }, "state": { _ in ["available"] },
            ], tags: \.tags, id: \.id)
            return SimOutcome(xml: reply.xml { w in
                w.list("subnetSet", page) { w, subnet in subnetXML(&w, subnet, owner: state.ownerID) }
                w.element("nextToken", next)
            })
        },
        .testbed(.createSecurityGroup): { p, state, reply throws(SimError) in
            let group = try state.createSecurityGroup(name: p.required("GroupName"), description: p.required("GroupDescription"),
                                                      vpcID: p.required("VpcId"), tags: p.tagSpecifications(for: "security-group"))
            return SimOutcome(xml: reply.xml { w in
                w.element("return", true)
                w.element("groupId", group.id)
            }, events: [.securityChanged])
        },
        .client(.describeSecurityGroups): { p, state, reply throws(SimError) in
            let (page, next) = try SimActions.describe(Array(state.groups.values), p, ids: "GroupId", exists: { state.groups[$0] != nil },
                                                       notFound: { .notFound("InvalidGroup.NotFound", $0, "security group") }, fields: [
                "group-id": { [$0.id] }, "group-name": { [$0.name] }, "vpc-id": { [$0.vpcID] },
            ], tags: \.tags, id: \.id)
            return SimOutcome(xml: reply.xml { w in
                w.list("securityGroupInfo", page) { w, group in
                    w.element("ownerId", state.ownerID)
                    w.element("groupId", group.id)
                    w.element("groupName", group.name)
                    w.element("groupDescription", group.description)
                    w.element("vpcId", group.vpcID)
                    let rules = state.groupRules.values.filter { $0.groupID == group.id }
                    SimSecurityGroupActions.permissionsXML(&w, "ipPermissions", rules.filter { !$0.isEgress }, owner: state.ownerID)
                    SimSecurityGroupActions.permissionsXML(&w, "ipPermissionsEgress", rules.filter(\.isEgress), owner: state.ownerID)
                    w.tags(group.tags)
                }
                w.element("nextToken", next)
            })
        },
        .testbed(.runInstances): { p, state, reply throws(SimError) in
            let minCount = try p.int("MinCount") ?? 1, maxCount = try p.int("MaxCount") ?? minCount
            let instances = try state.runInstances(.init(
                imageID: p.required("ImageId"), instanceType: p["InstanceType"] ?? "m1.small", subnetID: p.required("SubnetId"),
                groupIDs: p.list("SecurityGroupId"), minCount: minCount, maxCount: maxCount, tags: p.tagSpecifications(for: "instance")))
            return SimOutcome(xml: reply.xml { w in
                w.element("reservationId", "r-\(reply.requestID.prefix(17).replacingOccurrences(of: "-", with: ""))")
                w.element("ownerId", state.ownerID)
                w.list("groupSet", [String]()) { _, _ in }
                w.list("instancesSet", instances) { w, instance in w.instance(instance, state: state) }
            })
        },
        .testbed(.terminateInstances): { p, state, reply throws(SimError) in
            let ids = p.list("InstanceId")
            guard !ids.isEmpty else { throw .missing("InstanceId") }
            let changes = try state.terminate(ids)
            return SimOutcome(xml: reply.xml { w in
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
        },
        .client(.describeInstances): { p, state, reply throws(SimError) in
            let snapshot = state
            let (page, next) = try SimActions.describe(Array(state.instances.values), p, ids: "InstanceId", exists: { snapshot.instances[$0] != nil },
                                                       notFound: { .notFound("InvalidInstanceID.NotFound", $0, "instance") }, fields: [
                "instance-id": { [$0.id] }, "instance-state-name": { [$0.state] }, "instance-type": { [$0.instanceType] },
                "subnet-id": { [$0.subnetID] }, "vpc-id": { [$0.vpcID] }, "availability-zone": { [$0.availabilityZone] },
                "private-ip-address": { snapshot.attachedENIs($0.id).filter { $0.attachment?.deviceIndex == 0 }.map(\.primaryIP.description) },
                "network-interface.network-interface-id": { snapshot.attachedENIs($0.id).map(\.id) },
            ], tags: \.tags, id: \.id)
            return SimOutcome(xml: reply.xml { w in
                w.list("reservationSet", page) { w, instance in
                    w.element("reservationId", "r-\(instance.id.dropFirst(2))")
                    w.element("ownerId", snapshot.ownerID)
                    w.list("groupSet", [String]()) { _, _ in }
                    w.list("instancesSet", [instance]) { w, instance in w.instance(instance, state: snapshot) }
                }
                w.element("nextToken", next)
            })
        },
        // Not kept by ID: the types asked for, in the order asked, or all of them.
        .client(.describeInstanceTypes): { p, state, reply throws(SimError) in
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
            let (page, next) = try SimActions.paginate(types, p, explicitIDs: !names.isEmpty, maxPage: 100, id: \.instanceType)
            return SimOutcome(xml: reply.xml { w in
                w.list("instanceTypeSet", page) { w, t in instanceTypeXML(&w, t) }
                w.element("nextToken", next)
            })
        },
    ]

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
