@testable import ClusterSim
@testable import EC2Sim
import Testing
import VPCNetCore

/// The nftables table the simulated VPC enforces security groups with.
@Suite struct FabricFirewallTests {
    static func rule(_ group: String, egress: Bool = false, _ proto: String, _ from: Int = -1, _ to: Int = -1,
                     cidr: String? = nil, peer: String? = nil) -> SimSecurityGroupRule {
        SimSecurityGroupRule(id: "sgr-\(group)-\(proto)-\(from)", groupID: group, isEgress: egress, ipProtocol: proto, fromPort: from, toPort: to,
                             cidr: cidr.map { try! IPv4CIDR(parsing: $0) }, referencedGroupID: peer)
    }

    static let ports = [
        FabricFirewall.Port(eniID: "eni-db", link: "rdb", addresses: [IPv4Address("10.0.1.10")!], prefixes: [try! IPv4CIDR(parsing: "10.0.1.32/28")]),
        FabricFirewall.Port(eniID: "eni-app", link: "rapp", addresses: [IPv4Address("10.0.1.20")!, IPv4Address("10.0.1.21")!], prefixes: []),
    ]

    @Test func eachRuleBecomesOneMatchWithTheDestinationPortAndThePeerOnTheRightSide() {
        #expect(FabricFirewall.match(Self.rule("sg-a", "tcp", 5432, 5432, peer: "sg-b"), peer: "saddr") == "ip saddr @g_sg_b tcp dport 5432")
        #expect(FabricFirewall.match(Self.rule("sg-a", "udp", 30000, 32767, cidr: "0.0.0.0/0"), peer: "saddr") == "udp dport 30000-32767")
        #expect(FabricFirewall.match(Self.rule("sg-a", egress: true, "tcp", 0, 65535, cidr: "10.0.0.0/16"), peer: "daddr")
                    == "ip daddr 10.0.0.0/16 meta l4proto tcp")
        #expect(FabricFirewall.match(Self.rule("sg-a", "icmp", 8, -1, cidr: "10.0.0.0/8"), peer: "saddr") == "ip saddr 10.0.0.0/8 meta l4proto icmp icmp type 8")
        #expect(FabricFirewall.match(Self.rule("sg-a", "-1", cidr: "0.0.0.0/0"), peer: "saddr") == "")
        #expect(FabricFirewall.match(Self.rule("sg-a", "50", cidr: "0.0.0.0/0"), peer: "saddr") == "meta l4proto 50")
    }

    @Test func everyPortGetsItsGroupsRulesAndReferencedGroupsTheirMembersAddresses() {
        let view = SimSecurityView(rules: [
            Self.rule("sg-db", "tcp", 5432, 5432, peer: "sg-app"),
            Self.rule("sg-db", egress: true, "-1", cidr: "0.0.0.0/0"),
            Self.rule("sg-app", egress: true, "tcp", 5432, 5432, peer: "sg-db"),
        ], groupsByENI: ["eni-db": ["sg-db"], "eni-app": ["sg-app"]])
        let table = FabricFirewall.ruleset(ports: Self.ports, security: view)
        #expect(table.hasPrefix("table ip vsim_sg {}\ndelete table ip vsim_sg\n"), "replaced whole, in one transaction")
        #expect(table.contains("set g_sg_app {\n    type ipv4_addr; flags interval; auto-merge\n    elements = { 10.0.1.20, 10.0.1.21 }\n  }"))
        #expect(table.contains("elements = { 10.0.1.10, 10.0.1.32/28 }"), "a delegated prefix is a member too")
        #expect(table.contains("ct state established,related accept"), "stateful: replies pass whatever the rules say")
        #expect(table.contains("iifname vmap { \"rapp\" : jump out_rapp, \"rdb\" : jump out_rdb }"))
        #expect(table.contains("chain in_rdb {\n    ip saddr @g_sg_app tcp dport 5432 accept\n    counter drop\n  }"))
        #expect(table.contains("chain out_rdb {\n    return\n    counter drop\n  }"), "all traffic out")
        #expect(table.contains("chain in_rapp {\n    counter drop\n  }"), "no ingress rule: nothing new comes in")
        #expect(table.contains("chain out_rapp {\n    ip daddr @g_sg_db tcp dport 5432 return\n    counter drop\n  }"))
    }

    @Test func anENIWithoutGroupsOrAnEmptyVPCStillRendersAValidTable() {
        let table = FabricFirewall.ruleset(ports: [], security: SimSecurityView())
        #expect(!table.contains("vmap"), "an empty verdict map is not valid nft")
        let lonely = FabricFirewall.ruleset(ports: [Self.ports[0]], security: SimSecurityView(rules: [Self.rule("sg-x", "tcp", 1, 1, peer: "sg-y")]))
        #expect(lonely.contains("chain in_rdb {\n    counter drop\n  }"))
        #expect(lonely.contains("set g_sg_y {\n    type ipv4_addr; flags interval; auto-merge\n  }"), "a referenced group with no members is an empty set")
    }
}
