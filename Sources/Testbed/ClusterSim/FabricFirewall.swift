import EC2Sim
import VPCNetCore

/// The security groups of a simulated VPC as one nftables table for the router namespace.
///
/// EC2 evaluates a packet against the egress rules of the sending ENI's groups and the ingress
/// rules of the receiving ENI's groups, allows it if any rule of each side matches, and lets the
/// replies of an allowed flow through whatever the rules say (groups are stateful). Here:
/// conntrack's `established,related` is the state; a packet entering from an ENI's wire must match
/// one egress rule of that ENI (`out_` chain), a packet leaving down an ENI's wire one ingress rule
/// (`in_` chain). Traffic from the internet meets ingress rules only, traffic to it egress rules
/// only. A rule naming a group matches the addresses (and delegated prefixes) of the ENIs in it.
///
/// Differences from EC2, on purpose or for lack of need: every flow is tracked (EC2 leaves flows
/// allowed by "all traffic from and to 0.0.0.0/0" untracked, so revoking such a rule cuts them),
/// the router's own addresses (metadata, the control plane) are not filtered, and the per-ENI
/// connection-tracking limits and idle timeouts are Linux's.
struct FabricFirewall {
    /// One ENI as the router sees it: the wire it is plugged into and what it holds.
    struct Port: Sendable, Hashable {
        var eniID: String
        var link: String
        var addresses: [IPv4Address]
        var prefixes: [IPv4CIDR]
    }

    static let table = "vsim_sg"

    /// The whole table, replacing the previous one in one transaction (`nft -f`).
    static func ruleset(ports: [Port], security: SimSecurityView) -> String {
        let ports = ports.sorted { $0.link < $1.link }
        let rulesByGroup = Dictionary(grouping: security.rules, by: \.groupID)
        let referenced = Set(security.rules.compactMap(\.referencedGroupID)).sorted()
        var out = "table ip \(table) {}\ndelete table ip \(table)\ntable ip \(table) {\n"
        for group in referenced {
            let members = ports.filter { security.groupsByENI[$0.eniID, default: []].contains(group) }
            let elements = members.flatMap { $0.addresses.map { "\($0)" } + $0.prefixes.map { "\($0)" } }
            out += "  set \(setName(group)) {\n    type ipv4_addr; flags interval; auto-merge\n"
            if !elements.isEmpty { out += "    elements = { \(elements.joined(separator: ", ")) }\n" }
            out += "  }\n"
        }
        out += "  chain forward {\n    type filter hook forward priority filter + 10; policy accept;\n"
        out += "    ct state established,related accept\n"
        if !ports.isEmpty {
            out += "    iifname vmap { \(ports.map { "\"\($0.link)\" : jump out_\($0.link)" }.joined(separator: ", ")) }\n"
            out += "    oifname vmap { \(ports.map { "\"\($0.link)\" : jump in_\($0.link)" }.joined(separator: ", ")) }\n"
        }
        out += "  }\n"
        for port in ports {
            let rules = security.groupsByENI[port.eniID, default: []].flatMap { rulesByGroup[$0, default: []] }
            out += chain("out_\(port.link)", rules.filter(\.isEgress), peer: "daddr", verdict: "return")
            out += chain("in_\(port.link)", rules.filter { !$0.isEgress }, peer: "saddr", verdict: "accept")
        }
        return out + "}\n"
    }

    /// A chain that gives `verdict` to what one of `rules` matches and drops the rest.
    private static func chain(_ name: String, _ rules: [SimSecurityGroupRule], peer: String, verdict: String) -> String {
        var out = "  chain \(name) {\n"
        for line in Set(rules.map { match($0, peer: peer) }).sorted() {
            out += "    \(line.isEmpty ? "" : line + " ")\(verdict)\n"
        }
        return out + "    counter drop\n  }\n"
    }

    /// The nft expression of one rule; `peer` is `saddr` for ingress, `daddr` for egress.
    /// Ports are always the packet's destination port, as in EC2.
    static func match(_ rule: SimSecurityGroupRule, peer: String) -> String {
        var parts: [String] = []
        if let group = rule.referencedGroupID {
            parts.append("ip \(peer) @\(setName(group))")
        } else if let cidr = rule.cidr, cidr.prefixLength > 0 {
            parts.append("ip \(peer) \(cidr)")
        }
        switch rule.ipProtocol {
        case "-1":
            break
        case "tcp", "udp":
            if rule.fromPort == 0 && rule.toPort == 65_535 {
                parts.append("meta l4proto \(rule.ipProtocol)")
            } else {
                let range = rule.fromPort == rule.toPort ? "\(rule.fromPort)" : "\(rule.fromPort)-\(rule.toPort)"
                parts.append("\(rule.ipProtocol) dport \(range)")
            }
        case "icmp":
            parts.append("meta l4proto icmp")
            if rule.fromPort >= 0 { parts.append("icmp type \(rule.fromPort)") }
            if rule.toPort >= 0 { parts.append("icmp code \(rule.toPort)") }
        case let number:
            parts.append("meta l4proto \(number)")
        }
        return parts.joined(separator: " ")
    }

    /// nft names take letters, digits and underscores.
    static func setName(_ groupID: String) -> String { "g_" + groupID.replacingOccurrences(of: "-", with: "_") }
}
