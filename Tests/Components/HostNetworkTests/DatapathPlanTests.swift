@testable import HostNetwork
import Netlink
import TestSupport
import Testing
import VPCNetCore
import VPCNetSettings

@Suite struct DatapathPlanTests {
    static func record() throws -> NodeNetworkRecord { try SampleNode.record() }

    @Test func everyAddressGetsItsRulesUpFront() throws {
        let plan = DatapathPlan(record: try Self.record(), configuration: DatapathConfiguration(), primaryInterface: "ens5")
        #expect(plan.links.map(\.table) == [7301, 7302] && plan.links.allSatisfy { $0.mtu == 9001 && $0.address.prefixLength == 32 })
        let rules = Set(plan.rules.map(\.description))
        #expect(rules == [
            "7205: from all fwmark 0x80 lookup 254",
            "7200: from all to 10.0.1.1/32 lookup 254", "7210: from 10.0.1.1/32 to 10.0.0.0/16 lookup 7301",
            "7200: from all to 10.0.1.2/32 lookup 254", "7210: from 10.0.1.2/32 to 10.0.0.0/16 lookup 7301",
            "7200: from all to 10.0.2.1/32 lookup 254", "7210: from 10.0.2.1/32 to 10.0.0.0/16 lookup 7302",
        ])
        let routes = plan.routes(interfaceIndexes: [MACAddress("02:00:00:00:00:01")!: 11, MACAddress("02:00:00:00:00:02")!: 12])
        #expect(routes.map(\.description) == [
            "10.0.0.1/32 dev #11 table 7301 proto 165", "0.0.0.0/0 via 10.0.0.1 dev #11 onlink table 7301 proto 165",
            "10.0.0.1/32 dev #12 table 7302 proto 165", "0.0.0.0/0 via 10.0.0.1 dev #12 onlink table 7302 proto 165",
        ])
        #expect(plan.routes(interfaceIndexes: [:]).isEmpty, "an ENI whose link has not appeared gets no routes yet")
        #expect(plan.sysctls(interfaceNames: [MACAddress("02:00:00:00:00:01")!: "eth1"]) ==
                ["net/ipv4/ip_forward": "1", "net/ipv4/conf/ens5/rp_filter": "2", "net/ipv4/conf/eth1/rp_filter": "2"])
    }

    @Test func aPrefixTakesOneRuleOfEachKindNotSixteen() throws {
        let plan = DatapathPlan(record: try SampleNode.recordWithPrefix(), configuration: DatapathConfiguration(), primaryInterface: "ens5")
        let rules = plan.rules.map(\.description)
        #expect(rules.filter { $0.contains("10.0.3.") } == ["7200: from all to 10.0.3.16/28 lookup 254", "7210: from 10.0.3.16/28 to 10.0.0.0/16 lookup 7302"])
        #expect(rules.count == 1 + 2 * 3 + 2, "the connmark rule, 2 per single address, 2 for the prefix")
    }

    @Test func externalSNATRoutesEverythingThroughThePodsENI() throws {
        var configuration = DatapathConfiguration()
        configuration.externalSNAT = true
        let plan = DatapathPlan(record: try Self.record(), configuration: configuration, primaryInterface: "ens5")
        #expect(plan.rules.contains { $0.description == "7210: from 10.0.1.1/32 lookup 7301" })
        #expect(!plan.iptables.chains.flatMap(\.rules).contains { $0.contains("SNAT --to-source") })
    }

    @Test func onlyOwnedRoutesAndRulesAreChanged() throws {
        let configuration = DatapathConfiguration()
        let plan = DatapathPlan(record: try Self.record(), configuration: configuration, primaryInterface: "ens5")
        let routes = plan.routes(interfaceIndexes: [MACAddress("02:00:00:00:00:01")!: 11, MACAddress("02:00:00:00:00:02")!: 12])
        let foreign = Route(table: 10001, destination: try IPv4CIDR(parsing: "0.0.0.0/0"), gateway: try IPv4Address(parsing: "10.0.0.1"))
        let stale = Route(table: 7303, destination: try IPv4CIDR(parsing: "0.0.0.0/0"), gateway: try IPv4Address(parsing: "10.0.0.1"))
        let staleRule = Rule(priority: 7210, table: 7303, source: try IPv4CIDR(parsing: "10.0.3.1/32"))
        let mainRule = Rule(priority: 32766, table: 254)
        let changes = RoutingChanges.between(desiredRoutes: routes, desiredRules: plan.rules, kernelRoutes: [foreign, stale, routes[0]],
                                             kernelRules: [mainRule, staleRule, plan.rules[0]], configuration: configuration)
        #expect(changes.deleteRoutes == [stale] && changes.deleteRules == [staleRule], "others' tables and rules are never touched")
        #expect(changes.addRoutes == Array(routes.dropFirst()) && changes.addRules == Array(plan.rules.dropFirst()))
        let converged = RoutingChanges.between(desiredRoutes: routes, desiredRules: plan.rules, kernelRoutes: routes + [foreign],
                                               kernelRules: plan.rules + [mainRule], configuration: configuration)
        #expect(converged.isEmpty, "a converged kernel needs no writes")
    }

    @Test func iptablesBatchesOnlyWhatDiffers() throws {
        let plan = DatapathPlan(record: try Self.record(), configuration: DatapathConfiguration(), primaryInterface: "ens5")
        let first = try #require(plan.iptables.restoreInput(current: "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j KUBE-POSTROUTING\nCOMMIT\n"))
        #expect(first.contains(":VPCNET-SNAT - [0:0]\n") && first.contains("-F VPCNET-SNAT\n-A VPCNET-SNAT -d 10.0.0.0/16 -m comment --comment \"vpcnet: VPC\" -j RETURN\n"))
        #expect(first.contains("-j SNAT --to-source 10.0.0.10 --random-fully"))
        #expect(first.contains("-A POSTROUTING -m comment --comment \"vpcnet: SNAT\" -j VPCNET-SNAT"))
        #expect(!first.contains("KUBE-POSTROUTING"), "nobody else's rules appear in the batch")
        #expect(first.contains("-A VPCNET-FORWARD -d 169.254.169.254/32 -i veth+"), "metadata blocked by default")

        // What iptables-save would print after applying it: no further batch.
        var saved = ""
        for table in ["filter", "mangle", "nat"] {
            let chains = plan.iptables.chains.filter { $0.table == table }
            saved += "*\(table)\n" + chains.map { ":\($0.name) - [0:0]\n" }.joined()
            saved += chains.map { $0.jump + "\n" }.joined() + chains.flatMap(\.rules).map { $0 + "\n" }.joined()
            saved += (table == "nat" ? "-A POSTROUTING -j KUBE-POSTROUTING\n" : "") + "COMMIT\n"
        }
        #expect(plan.iptables.restoreInput(current: saved) == nil)
        let removal = try #require(IPTablesRules.removalInput(current: saved))
        #expect(removal.contains("-D POSTROUTING -m comment --comment \"vpcnet: SNAT\" -j VPCNET-SNAT\n"))
        #expect(removal.contains("-F VPCNET-SNAT\n-X VPCNET-SNAT\n"))
        #expect(!removal.contains("KUBE-POSTROUTING"))
    }
}
