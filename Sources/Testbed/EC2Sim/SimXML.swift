import Foundation

/// Builds EC2 Query API XML by hand: the shapes are EC2's (API version 2016-11-15), written here
/// because no EC2 server library exists for Swift. boto3 parses every response against EC2's
/// service model in the tests, so a wrong element name or nesting fails there.
struct XMLWriter {
    private(set) var text = ""

    mutating func element(_ name: String, _ value: String?) {
        guard let value else { return }
        text += "<\(name)>\(Self.escape(value))</\(name)>"
    }
    mutating func element(_ name: String, _ value: Int?) { element(name, value.map(String.init)) }
    mutating func element(_ name: String, _ value: Bool?) { element(name, value.map { $0 ? "true" : "false" }) }

    mutating func open(_ name: String, _ body: (inout XMLWriter) -> Void) {
        text += "<\(name)>"
        body(&self)
        text += "</\(name)>"
    }

    /// `<name><item>…</item>…</name>`, EC2's list form.
    mutating func list<T>(_ name: String, _ items: [T], _ body: (inout XMLWriter, T) -> Void) {
        text += "<\(name)>"
        for item in items {
            text += "<item>"
            body(&self, item)
            text += "</item>"
        }
        text += "</\(name)>"
    }

    mutating func tags(_ tags: [SimTag]) {
        list("tagSet", tags) { w, tag in
            w.element("key", tag.key)
            w.element("value", tag.value)
        }
    }

    static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for character in value {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }

    static func response(action: String, requestID: String, _ body: (inout XMLWriter) -> Void) -> String {
        var writer = XMLWriter()
        writer.text = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n" + #"<\#(action)Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">"#
        writer.element("requestId", requestID)
        body(&writer)
        writer.text += "</\(action)Response>"
        return writer.text
    }

    static func error(_ error: SimError, requestID: String) -> String {
        var writer = XMLWriter()
        writer.text = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n<Response>"
        writer.open("Errors") { w in
            w.open("Error") { w in
                w.element("Code", error.code)
                w.element("Message", error.message)
            }
        }
        writer.element("RequestID", requestID)
        writer.text += "</Response>"
        return writer.text
    }
}

extension XMLWriter {
    mutating func networkInterface(_ eni: SimENI, state: SimState, full: Bool = true) {
        element("networkInterfaceId", eni.id)
        element("subnetId", eni.subnetID)
        element("vpcId", eni.vpcID)
        element("availabilityZone", eni.availabilityZone)
        element("description", eni.description)
        element("ownerId", eni.ownerID)
        element("requesterManaged", false)
        element("status", eni.status)
        element("macAddress", eni.macAddress)
        element("privateIpAddress", eni.primaryIP.description)
        element("sourceDestCheck", eni.sourceDestCheck)
        list("groupSet", eni.groupIDs) { w, id in
            w.element("groupId", id)
            w.element("groupName", state.groups[id]?.name)
        }
        if let attachment = eni.attachment {
            open("attachment") { w in
                w.element("attachmentId", attachment.id)
                w.element("instanceId", attachment.instanceID)
                w.element("instanceOwnerId", eni.ownerID)
                w.element("deviceIndex", attachment.deviceIndex)
                w.element("networkCardIndex", attachment.networkCardIndex)
                w.element("status", attachment.status)
                w.element("attachTime", attachment.attachTime)
                w.element("deleteOnTermination", attachment.deleteOnTermination)
            }
        }
        if full { tags(eni.tags) }
        list("privateIpAddressesSet", [(eni.primaryIP, true)] + eni.secondaryIPs.map { ($0, false) }) { w, pair in
            w.element("privateIpAddress", pair.0.description)
            w.element("primary", pair.1)
        }
        if !eni.prefixes.isEmpty {
            list("ipv4PrefixSet", eni.prefixes) { w, prefix in w.element("ipv4Prefix", prefix.description) }
        }
        element("interfaceType", "interface")
    }

    mutating func instance(_ instance: SimInstance, state: SimState) {
        element("instanceId", instance.id)
        element("imageId", instance.imageID)
        open("instanceState") { w in
            w.element("code", SimInstance.stateCode(instance.state))
            w.element("name", instance.state)
        }
        let enis = state.attachedENIs(instance.id)
        let primary = enis.first { $0.attachment?.deviceIndex == 0 }
        element("privateDnsName", primary.map { "ip-\($0.primaryIP.description.replacingOccurrences(of: ".", with: "-")).ec2.internal" } ?? "")
        element("instanceType", instance.instanceType)
        element("launchTime", instance.launchTime)
        open("placement") { w in
            w.element("availabilityZone", instance.availabilityZone)
            w.element("tenancy", "default")
        }
        element("subnetId", instance.subnetID)
        element("vpcId", instance.vpcID)
        element("privateIpAddress", primary?.primaryIP.description)
        element("sourceDestCheck", true)
        list("groupSet", instance.groupIDs) { w, id in
            w.element("groupId", id)
            w.element("groupName", state.groups[id]?.name)
        }
        element("architecture", "x86_64")
        element("rootDeviceType", "ebs")
        element("virtualizationType", "hvm")
        element("hypervisor", instance.limits.hypervisor == .xen ? "xen" : "nitro")
        tags(instance.tags)
        list("networkInterfaceSet", enis) { w, eni in w.networkInterface(eni, state: state, full: false) }
    }
}
