import VPCNetCore

/// Security group rules: the defaults EC2 gives a group, authorizing and revoking them.
extension SimState {
    /// What `CreateSecurityGroup` gives a group: all traffic out. A VPC's default group also
    /// admits all traffic from its own members.
    mutating func addDefaultRules(to group: SimSecurityGroup, isDefault: Bool) {
        var rules = [SimSecurityGroupRule(id: newID("sgr"), groupID: group.id, isEgress: true, ipProtocol: "-1", fromPort: -1, toPort: -1,
                                          cidr: try? IPv4CIDR(parsing: "0.0.0.0/0"))]
        if isDefault {
            rules.append(SimSecurityGroupRule(id: newID("sgr"), groupID: group.id, isEgress: false, ipProtocol: "-1", fromPort: -1, toPort: -1,
                                              referencedGroupID: group.id))
        }
        for rule in rules { groupRules[rule.id] = rule }
    }

    /// `AuthorizeSecurityGroupIngress`/`Egress`: every rule is new (a rule the group has is
    /// `InvalidPermission.Duplicate` and nothing is added), every referenced group exists.
    mutating func authorize(_ rules: [SimSecurityGroupRule]) throws(SimError) -> [SimSecurityGroupRule] {
        var added: [SimSecurityGroupRule] = []
        for var rule in rules {
            guard groups[rule.groupID] != nil else { throw .notFound("InvalidGroup.NotFound", rule.groupID, "security group") }
            if let peer = rule.referencedGroupID, groups[peer] == nil { throw .notFound("InvalidGroup.NotFound", peer, "security group") }
            if groupRules.values.contains(where: { $0.sameRule(as: rule) }) || added.contains(where: { $0.sameRule(as: rule) }) {
                throw SimError("InvalidPermission.Duplicate", "the specified rule \"\(Self.summary(rule))\" already exists")
            }
            rule.id = newID("sgr")
            added.append(rule)
        }
        for rule in added { groupRules[rule.id] = rule }
        return added
    }

    /// `RevokeSecurityGroupIngress`/`Egress`, by rule or by rule ID; a rule the group does not
    /// have is `InvalidPermission.NotFound` and nothing is removed.
    mutating func revoke(groupID: String, isEgress: Bool, rules: [SimSecurityGroupRule], ruleIDs: [String]) throws(SimError) {
        guard groups[groupID] != nil else { throw .notFound("InvalidGroup.NotFound", groupID, "security group") }
        var doomed: [String] = []
        for id in ruleIDs {
            guard let rule = groupRules[id], rule.groupID == groupID, rule.isEgress == isEgress else {
                throw SimError("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '\(id)' does not exist")
            }
            doomed.append(id)
        }
        for rule in rules {
            guard let match = groupRules.values.first(where: { $0.sameRule(as: rule) }) else {
                throw SimError("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
            }
            doomed.append(match.id)
        }
        for id in doomed { groupRules[id] = nil }
    }

    /// How EC2 names a rule in its errors: `peer: 10.0.0.0/16, TCP, from port: 22, to port: 22, ALLOW`.
    static func summary(_ rule: SimSecurityGroupRule) -> String {
        let peer = rule.cidr?.description ?? rule.referencedGroupID ?? ""
        let proto = rule.ipProtocol == "-1" ? "ALL" : rule.ipProtocol.uppercased()
        let ports = rule.ipProtocol == "-1" ? "" : ", from port: \(rule.fromPort), to port: \(rule.toPort)"
        return "peer: \(peer), \(proto)\(ports), ALLOW"
    }
}
