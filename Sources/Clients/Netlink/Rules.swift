import CNetlink
import VPCNetCore

/// An IPv4 policy-routing rule: `from SOURCE [to DESTINATION] lookup TABLE` at a priority.
public struct Rule: Hashable, Sendable, CustomStringConvertible {
    public var priority: UInt32
    public var table: UInt32
    public var source: IPv4CIDR?
    public var destination: IPv4CIDR?
    /// `fwmark MARK/MARK`: the rule matches packets with these mark bits set.
    public var firewallMark: UInt32?

    public init(priority: UInt32, table: UInt32, source: IPv4CIDR? = nil, destination: IPv4CIDR? = nil, firewallMark: UInt32? = nil) {
        self.priority = priority
        self.table = table
        self.source = source
        self.destination = destination
        self.firewallMark = firewallMark
    }

    public var description: String {
        "\(priority): from \(source.map(\.description) ?? "all")\(destination.map { " to \($0)" } ?? "")"
            + "\(firewallMark.map { " fwmark 0x\(String($0, radix: 16))" } ?? "") lookup \(table)"
    }
}

extension RouteSocket {
    /// The IPv4 rules that look up a table (the kernel's own `local`/`main`/`default` rules included).
    public func rules() throws(NetlinkError) -> [Rule] {
        try dump("rules", fill: { rtnl_rule_alloc_cache($0, AF_INET, $1) }) { rule in
            guard rtnl_rule_get_action(rule) == UInt8(FR_ACT_TO_TBL) else { return nil }
            let mark = rtnl_rule_get_mark(rule)
            return Rule(priority: rtnl_rule_get_prio(rule), table: rtnl_rule_get_table(rule),
                        source: IPv4CIDR(nlAddress: rtnl_rule_get_src(rule)), destination: IPv4CIDR(nlAddress: rtnl_rule_get_dst(rule)),
                        firewallMark: mark == 0 || mark == UInt32.max ? nil : mark)
        }
    }

    public func addRule(_ rule: Rule) throws(NetlinkError) { try changeRule(rule, add: true) }
    public func deleteRule(_ rule: Rule) throws(NetlinkError) { try changeRule(rule, add: false) }

    private func changeRule(_ rule: Rule, add: Bool) throws(NetlinkError) {
        try with { socket throws(NetlinkError) in
            guard let object = rtnl_rule_alloc() else { throw NetlinkError("rtnl_rule_alloc", -NLE_NOMEM) }
            defer { rtnl_rule_put(object) }
            rtnl_rule_set_family(object, AF_INET)
            rtnl_rule_set_prio(object, rule.priority)
            rtnl_rule_set_table(object, rule.table)
            rtnl_rule_set_action(object, UInt8(FR_ACT_TO_TBL))
            if let source = rule.source, let address = source.nlAddress() {
                defer { nl_addr_put(address) }
                try Self.check("set source \(source)", rtnl_rule_set_src(object, address))
            }
            if let destination = rule.destination, let address = destination.nlAddress() {
                defer { nl_addr_put(address) }
                try Self.check("set destination \(destination)", rtnl_rule_set_dst(object, address))
            }
            if let mark = rule.firewallMark {
                rtnl_rule_set_mark(object, mark)
                rtnl_rule_set_mask(object, mark)
            }
            let result = add ? rtnl_rule_add(socket, object, Int32(NLM_F_EXCL)) : rtnl_rule_delete(socket, object, 0)
            try Self.check("\(add ? "add" : "delete") rule \(rule)", result)
        }
    }
}
