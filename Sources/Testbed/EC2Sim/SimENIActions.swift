import AWSEC2
import VPCNetCore

/// The ENI actions: create, attach, detach, delete, modify, assign, unassign, describe, tag.
enum SimENIActions {
    static let handlers: [SimAction: SimHandler] = [
        .client(.createNetworkInterface): { p, state, reply throws(SimError) in
            var primary: IPv4Address?
            if let text = p["PrivateIpAddress"] {
                guard let address = IPv4Address(text) else { throw .invalid("Invalid IPv4 address '\(text)'") }
                primary = address
            }
            let count = try p.int("SecondaryPrivateIpAddressCount") ?? 0
            let prefixCount = try p.int("Ipv4PrefixCount") ?? 0
            guard (0...unattachedAddressLimit).contains(count), (0...unattachedAddressLimit).contains(prefixCount) else {
                throw .invalid("Counts must be between 0 and \(unattachedAddressLimit).")
            }
            if prefixCount > 0 && count > 0 {
                throw SimError("InvalidParameterCombination", "You cannot specify both secondary addresses and IPv4 prefixes")
            }
            let eni = try state.createENI(.init(
                subnetID: p.required("SubnetId"), groupIDs: p.list("SecurityGroupId"), description: p["Description"] ?? "",
                tags: p.tagSpecifications(for: "network-interface"), primaryIP: primary, secondaryCount: count,
                secondaryIPs: [], prefixCount: prefixCount, clientToken: p["ClientToken"]))
            return SimOutcome(xml: reply.xml { w in
                w.open("networkInterface") { w in w.networkInterface(eni, state: state) }
                w.element("clientToken", p["ClientToken"])
            })
        },
        .client(.attachNetworkInterface): { p, state, reply throws(SimError) in
            let eniID = try p.required("NetworkInterfaceId")
            guard let index = try p.int("DeviceIndex") else { throw .missing("DeviceIndex") }
            let card = try p.int("NetworkCardIndex") ?? 0
            let attachment = try state.attach(eniID: eniID, instanceID: p.required("InstanceId"), deviceIndex: index, networkCardIndex: card)
            return SimOutcome(xml: reply.xml { w in
                w.element("attachmentId", attachment.id)
                w.element("networkCardIndex", card)
            }, pendingAttachments: [(eniID, attachment.id)])
        },
        .client(.detachNetworkInterface): { p, state, reply throws(SimError) in
            let attachmentID = try p.required("AttachmentId")
            let eni = try state.detach(attachmentID: attachmentID)
            return SimOutcome(xml: reply.returnTrue, pendingDetachments: [(eni.id, attachmentID)])
        },
        .client(.deleteNetworkInterface): { p, state, reply throws(SimError) in
            try state.deleteENI(p.required("NetworkInterfaceId"))
            return SimOutcome(xml: reply.returnTrue)
        },
        .client(.modifyNetworkInterfaceAttribute): { p, state, reply throws(SimError) in
            let id = try p.required("NetworkInterfaceId")
            var eni = try state.eni(id)
            var events: [SimEvent] = []
            if let attachmentID = p["Attachment.AttachmentId"] {
                guard let value = try p.bool("Attachment.DeleteOnTermination") else { throw .missing("Attachment.DeleteOnTermination") }
                try state.setDeleteOnTermination(eniID: id, attachmentID: attachmentID, value)
                eni = try state.eni(id)
            } else if let value = try p.bool("SourceDestCheck.Value") {
                eni.sourceDestCheck = value
            } else if let text = p["Description.Value"] {
                eni.description = text
            } else if !p.list("SecurityGroupId").isEmpty {
                let ids = p.list("SecurityGroupId")
                try state.checkGroups(ids, vpcID: eni.vpcID)
                eni.groupIDs = ids
                events = [.securityChanged]
            } else {
                throw .missing("an attribute to modify")
            }
            state.enis[id] = eni
            return SimOutcome(xml: reply.returnTrue, events: events)
        },
        .client(.assignPrivateIpAddresses): { p, state, reply throws(SimError) in
            let id = try p.required("NetworkInterfaceId")
            let assigned = try state.assign(eniID: id, count: p.int("SecondaryPrivateIpAddressCount") ?? 0,
                                            addresses: p.addresses("PrivateIpAddress"), prefixCount: p.int("Ipv4PrefixCount") ?? 0,
                                            prefixes: p.prefixes("Ipv4Prefix"))
            return SimOutcome(xml: reply.xml { w in
                w.element("networkInterfaceId", id)
                w.list("assignedPrivateIpAddressesSet", assigned.addresses) { w, a in w.element("privateIpAddress", a.description) }
                w.list("assignedIpv4PrefixSet", assigned.prefixes) { w, prefix in w.element("ipv4Prefix", prefix.description) }
                w.element("return", true)
            }, events: [.addressesAssigned(eniID: id, assigned.addresses, prefixes: assigned.prefixes)])
        },
        .client(.unassignPrivateIpAddresses): { p, state, reply throws(SimError) in
            let id = try p.required("NetworkInterfaceId")
            let addresses = try p.addresses("PrivateIpAddress"), prefixes = try p.prefixes("Ipv4Prefix")
            guard !addresses.isEmpty || !prefixes.isEmpty else { throw .missing("PrivateIpAddress or Ipv4Prefix") }
            _ = try state.unassign(eniID: id, addresses: addresses, prefixes: prefixes)
            return SimOutcome(xml: reply.returnTrue, events: [.addressesUnassigned(eniID: id, addresses, prefixes: prefixes)])
        },
        .client(.describeNetworkInterfaces): { p, state, reply throws(SimError) in
            let (page, next) = try SimActions.describe(Array(state.enis.values), p, ids: "NetworkInterfaceId", exists: { state.enis[$0] != nil },
                                                       notFound: { .notFound("InvalidNetworkInterfaceID.NotFound", $0, "network interface") }, fields: [
                "network-interface-id": { [$0.id] }, "subnet-id": { [$0.subnetID] }, "vpc-id": { [$0.vpcID] },
                "availability-zone": { [$0.availabilityZone] }, "status": { [$0.status] }, "description": { [$0.description] },
                "mac-address": { [$0.macAddress] }, "group-id": { $0.groupIDs },
                "private-ip-address": { ([$0.primaryIP] + $0.secondaryIPs).map(\.description) },
                "addresses.private-ip-address": { ([$0.primaryIP] + $0.secondaryIPs).map(\.description) },
                "attachment.instance-id": { $0.attachment.map { [$0.instanceID] } ?? [] },
                "attachment.attachment-id": { $0.attachment.map { [$0.id] } ?? [] },
                "attachment.device-index": { $0.attachment.map { [String($0.deviceIndex)] } ?? [] },
                "attachment.status": { $0.attachment.map { [$0.status] } ?? [] },
                "attachment.delete-on-termination": { $0.attachment.map { [$0.deleteOnTermination ? "true" : "false"] } ?? [] },
                "owner-id": { [$0.ownerID] }, "requester-managed": { _ in ["false"] },
            ], tags: \.tags, id: \.id)
            return SimOutcome(xml: reply.xml { w in
                w.list("networkInterfaceSet", page) { w, eni in w.networkInterface(eni, state: state) }
                w.element("nextToken", next)
            })
        },
        .client(.createTags): { p, state, reply throws(SimError) in
            let resources = p.list("ResourceId")
            let tags = p.tags("Tag")
            guard !resources.isEmpty else { throw .missing("ResourceId") }
            guard !tags.isEmpty else { throw .missing("Tag") }
            for id in resources {
                let exists = state.enis[id] != nil || state.instances[id] != nil || state.subnets[id] != nil || state.vpcs[id] != nil
                    || state.groups[id] != nil
                guard exists else { throw SimError("InvalidID", "The ID '\(id)' is not valid") }
            }
            func merge(_ existing: inout [SimTag]) {
                for tag in tags {
                    if let i = existing.firstIndex(where: { $0.key == tag.key }) { existing[i] = tag } else { existing.append(tag) }
                }
            }
            for id in resources {
                if state.enis[id] != nil { merge(&state.enis[id]!.tags) }
                if state.instances[id] != nil { merge(&state.instances[id]!.tags) }
                if state.subnets[id] != nil { merge(&state.subnets[id]!.tags) }
                if state.vpcs[id] != nil { merge(&state.vpcs[id]!.tags) }
                if state.groups[id] != nil { merge(&state.groups[id]!.tags) }
            }
            return SimOutcome(xml: reply.returnTrue)
        },
    ]
}
