import VPCNetCore

/// Security group rules: `AuthorizeSecurityGroupIngress`/`Egress`, `RevokeSecurityGroupIngress`/
/// `Egress` and `DescribeSecurityGroupRules`, as EC2 answers them (boto3 and moto agree:
/// Tests/peers/test_ec2sim_boto3.py).
enum SimSecurityGroupActions {
    static let handlers: [SimAction: SimHandler] = [
        .testbed(.authorizeSecurityGroupIngress): { p, state, reply throws(SimError) in try authorize(p, &state, reply, egress: false) },
        .testbed(.authorizeSecurityGroupEgress): { p, state, reply throws(SimError) in try authorize(p, &state, reply, egress: true) },
        .testbed(.revokeSecurityGroupIngress): { p, state, reply throws(SimError) in try revoke(p, &state, reply, egress: false) },
        .testbed(.revokeSecurityGroupEgress): { p, state, reply throws(SimError) in try revoke(p, &state, reply, egress: true) },
        .testbed(.describeSecurityGroupRules): { p, state, reply throws(SimError) in
            let (page, next) = try SimActions.describe(Array(state.groupRules.values), p, ids: "SecurityGroupRuleId",
                                                       exists: { state.groupRules[$0] != nil },
                                                       notFound: { SimError("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '\($0)' does not exist") },
                                                       fields: ["group-id": { [$0.groupID] }, "security-group-rule-id": { [$0.id] }],
                                                       tags: \.tags, id: \.id)
            return SimOutcome(xml: reply.xml { w in
                w.list("securityGroupRuleSet", page) { w, rule in ruleXML(&w, rule, owner: state.ownerID) }
                w.element("nextToken", next)
            })
        },
    ]

    static func authorize(_ p: SimParameters, _ state: inout SimState, _ reply: SimReply, egress: Bool) throws(SimError) -> SimOutcome {
        let groupID = try p.required("GroupId")
        let rules = try permissions(p, groupID: groupID, egress: egress, tags: p.tagSpecifications(for: "security-group-rule"))
        guard !rules.isEmpty else { throw .missing("IpPermissions") }
        let added = try state.authorize(rules)
        return SimOutcome(xml: reply.xml { w in
            w.element("return", true)
            w.list("securityGroupRuleSet", added) { w, rule in ruleXML(&w, rule, owner: state.ownerID) }
        }, events: [.securityChanged])
    }

    static func revoke(_ p: SimParameters, _ state: inout SimState, _ reply: SimReply, egress: Bool) throws(SimError) -> SimOutcome {
        let groupID = try p.required("GroupId")
        let rules = try permissions(p, groupID: groupID, egress: egress, tags: [])
        let ids = p.list("SecurityGroupRuleId")
        guard !rules.isEmpty || !ids.isEmpty else { throw .missing("IpPermissions") }
        try state.revoke(groupID: groupID, isEgress: egress, rules: rules, ruleIDs: ids)
        return SimOutcome(xml: reply.returnTrue, events: [.securityChanged])
    }

    /// `IpPermissions.N`: a protocol and port range with peers (`IpRanges.M.CidrIp`,
    /// `Groups.M.GroupId`), one rule per peer. Protocol numbers 1, 6, 17 are named as
    /// EC2 names them; `-1` and `all` mean every protocol, which has no ports.
    static func permissions(_ p: SimParameters, groupID: String, egress: Bool, tags: [SimTag]) throws(SimError) -> [SimSecurityGroupRule] {
        var rules: [SimSecurityGroupRule] = []
        for index in p.indexed("IpPermissions") {
            let base = "IpPermissions.\(index)"
            let raw = try p.required("\(base).IpProtocol").lowercased()
            let proto = ["all": "-1", "1": "icmp", "6": "tcp", "17": "udp"][raw] ?? raw
            guard ["-1", "tcp", "udp", "icmp"].contains(proto) || (Int(proto).map { (0...255).contains($0) } ?? false) else {
                throw .invalid("Invalid value '\(raw)' for IP protocol. Unknown protocol.")
            }
            var from = -1, to = -1
            if proto == "tcp" || proto == "udp" {
                guard let low = try p.int("\(base).FromPort"), let high = try p.int("\(base).ToPort") else {
                    throw .invalid("Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
                }
                guard (0...65_535).contains(low), (0...65_535).contains(high), low <= high else {
                    throw .invalid("Invalid value for portRange. The port range \(low)-\(high) is not valid.")
                }
                (from, to) = (low, high)
            } else if proto == "icmp" {
                (from, to) = (try p.int("\(base).FromPort") ?? -1, try p.int("\(base).ToPort") ?? -1)
            }
            func rule(cidr: IPv4CIDR?, group: String?, description: String?) -> SimSecurityGroupRule {
                SimSecurityGroupRule(id: "", groupID: groupID, isEgress: egress, ipProtocol: proto, fromPort: from, toPort: to, cidr: cidr,
                                     referencedGroupID: group, description: description, tags: tags)
            }
            for range in p.indexed("\(base).IpRanges") {
                let text = try p.required("\(base).IpRanges.\(range).CidrIp")
                guard let cidr = try? IPv4CIDR(parsing: text) else {
                    throw .invalid("CIDR block \(text) is malformed")
                }
                rules.append(rule(cidr: cidr, group: nil, description: p["\(base).IpRanges.\(range).Description"]))
            }
            // The query protocol names `UserIdGroupPairs` by its location name, `Groups`.
            for pair in p.indexed("\(base).Groups") {
                let peer = try p.required("\(base).Groups.\(pair).GroupId")
                rules.append(rule(cidr: nil, group: peer, description: p["\(base).Groups.\(pair).Description"]))
            }
        }
        return rules
    }

    static func ruleXML(_ w: inout XMLWriter, _ rule: SimSecurityGroupRule, owner: String) {
        w.element("securityGroupRuleId", rule.id)
        w.element("groupId", rule.groupID)
        w.element("groupOwnerId", owner)
        w.element("isEgress", rule.isEgress)
        w.element("ipProtocol", rule.ipProtocol)
        w.element("fromPort", rule.fromPort)
        w.element("toPort", rule.toPort)
        w.element("cidrIpv4", rule.cidr?.description)
        if let peer = rule.referencedGroupID {
            w.open("referencedGroupInfo") { w in
                w.element("groupId", peer)
                w.element("userId", owner)
            }
        }
        w.element("description", rule.description)
        w.tags(rule.tags)
    }

    /// `DescribeSecurityGroups`' `ipPermissions` / `ipPermissionsEgress`: the rules grouped by
    /// protocol and ports, each with its CIDR ranges and groups.
    static func permissionsXML(_ w: inout XMLWriter, _ name: String, _ rules: [SimSecurityGroupRule], owner: String) {
        var order: [String] = []
        var grouped: [String: [SimSecurityGroupRule]] = [:]
        for rule in rules.sorted(by: { $0.id < $1.id }) {
            let key = "\(rule.ipProtocol)/\(rule.fromPort)/\(rule.toPort)"
            if grouped[key] == nil { order.append(key) }
            grouped[key, default: []].append(rule)
        }
        w.list(name, order.compactMap { grouped[$0] }) { w, rules in
            let first = rules[0]
            w.element("ipProtocol", first.ipProtocol)
            if first.ipProtocol != "-1" {
                w.element("fromPort", first.fromPort)
                w.element("toPort", first.toPort)
            }
            w.list("groups", rules.filter { $0.referencedGroupID != nil }) { w, rule in
                w.element("description", rule.description)
                w.element("groupId", rule.referencedGroupID)
                w.element("userId", owner)
            }
            w.list("ipRanges", rules.filter { $0.cidr != nil }) { w, rule in
                w.element("cidrIp", rule.cidr?.description)
                w.element("description", rule.description)
            }
            w.list("ipv6Ranges", [SimSecurityGroupRule]()) { _, _ in }
            w.list("prefixListIds", [SimSecurityGroupRule]()) { _, _ in }
        }
    }
}
