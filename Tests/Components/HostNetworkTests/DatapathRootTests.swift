import Foundation
@testable import HostNetwork
import Netlink
import Testing
import VPCNetCore
import VPCNetSettings

/// The reconciler against a real kernel: a node in network namespaces with veths standing in for
/// ENIs, read back with iproute2, iptables-save and sysctl (independent of our netlink layer).
@Suite(.enabled(if: getuid() == 0, "datapath tests need root (network namespaces, iptables); CI runs them as root"))
struct DatapathRootTests {
    static func datapath(_ network: TestNetwork, stateFile: HostStateFile = HostDatapathTests.stateFile(),
                         configuration: DatapathConfiguration = DatapathConfiguration()) async throws -> HostDatapath {
        let kernel = try await LinuxKernel(namespacePath: network.nodePath)
        return try HostDatapath(kernel: kernel, configuration: configuration, stateFile: stateFile)
    }

    @Test func convergesWritesNothingTwiceRepairsAndUninstalls() async throws {
        try await TestNetwork.with(record: try DatapathPlanTests.record()) { network in
            // Someone else's rule and route, which must survive everything.
            try await run(["ip", "netns", "exec", network.node, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "192.168.0.0/16", "-j", "MASQUERADE"])
            try await run(["ip", "-n", network.node, "rule", "add", "prio", "100", "from", "192.168.7.0/24", "lookup", "100"])
            let before = try await network.snapshot()
            let stateFile = HostDatapathTests.stateFile()
            let datapath = try await Self.datapath(network, stateFile: stateFile)

            let first = try await datapath.reconcile(record: network.record)
            #expect(first.isConfigured, "\(first.failures)")
            #expect(first.interfaceNames == [MACAddress("02:00:00:00:00:01")!: "ens6", MACAddress("02:00:00:00:00:02")!: "ens7"])
            #expect(try await network.links().filter { $0.hasPrefix("ens") } == [
                "ens5 mtu 1500 up [\"10.0.0.10/20\"]", "ens6 mtu 9001 up [\"10.0.0.11/32\"]", "ens7 mtu 9001 up [\"10.0.0.12/32\"]",
            ])
            #expect(try await network.routes(table: "7301") == [
                "10.0.0.1 dev ens6 proto 165 scope link", "default via 10.0.0.1 dev ens6 proto 165 onlink",
            ])
            #expect(try await network.routes(table: "7302") == [
                "10.0.0.1 dev ens7 proto 165 scope link", "default via 10.0.0.1 dev ens7 proto 165 onlink",
            ])
            #expect(try await network.rules() == [
                "0: from all lookup local",
                "100: from 192.168.7.0/24 lookup 100",
                "7200: from all to 10.0.1.1/32 lookup main", "7200: from all to 10.0.1.2/32 lookup main", "7200: from all to 10.0.2.1/32 lookup main",
                "7205: from all fwmark 0x80/0x80 lookup main",
                "7210: from 10.0.1.1/32 to 10.0.0.0/16 lookup 7301", "7210: from 10.0.1.2/32 to 10.0.0.0/16 lookup 7301",
                "7210: from 10.0.2.1/32 to 10.0.0.0/16 lookup 7302",
                "32766: from all lookup main", "32767: from all lookup default",
            ])
            for (key, value) in ["net.ipv4.ip_forward": "1", "net.ipv4.conf.ens5.rp_filter": "2", "net.ipv4.conf.ens6.rp_filter": "2",
                                 "net.ipv4.conf.ens7.rp_filter": "2"] {
                #expect(try await network.sysctl(key) == value, "\(key)")
            }
            let iptables = try await network.iptablesSave()
            #expect(iptables.contains("-A VPCNET-SNAT -m comment --comment \"vpcnet: pod egress as the node\" -m addrtype ! --dst-type LOCAL -j SNAT --to-source 10.0.0.10 --random-fully"))
            #expect(iptables.contains("-A POSTROUTING -s 192.168.0.0/16 -j MASQUERADE"))

            let converged = try await network.snapshot()
            let second = try await datapath.reconcile(record: network.record)
            #expect(second.changes.isEmpty && second.isConfigured, "a second pass writes nothing: \(second.changes)")

            // Removed by hand: a route, a rule, an iptables rule, a sysctl, the MTU. All come back.
            try await run(["ip", "-n", network.node, "route", "del", "default", "table", "7302"])
            try await run(["ip", "-n", network.node, "rule", "del", "prio", "7210", "from", "10.0.1.2", "to", "10.0.0.0/16", "lookup", "7301"])
            try await run(["ip", "netns", "exec", network.node, "iptables", "-t", "nat", "-F", "VPCNET-SNAT"])
            try await run(["ip", "netns", "exec", network.node, "sysctl", "-qw", "net.ipv4.conf.ens6.rp_filter=1"])
            try await run(["ip", "-n", network.node, "link", "set", "ens7", "mtu", "1500"])
            let repair = try await datapath.reconcile(record: network.record)
            #expect(repair.isConfigured && repair.changes.count == 5, "\(repair.changes)")
            expectSame(try await network.snapshot(), converged)

            // An ENI dropped from the record: its table, rules, address and settings go.
            var smaller = network.record
            smaller.enis.removeAll { $0.deviceIndex == 2 }
            let shrink = try await datapath.reconcile(record: smaller)
            #expect(shrink.isConfigured, "\(shrink.failures)")
            #expect(try await network.routes(table: "7302").isEmpty)
            #expect(try await !network.rules().contains { $0.contains("10.0.2.1") || $0.contains("7302") })
            #expect(try await network.links().contains("ens7 mtu 1500 []"), "ens7 back to how it was found: MTU, down, no address")
            #expect(try await network.sysctl("net.ipv4.conf.ens7.rp_filter") == "0")

            // Uninstall, from a fresh process's point of view: the namespace is as it was.
            let removed = try await Self.datapath(network, stateFile: stateFile).uninstall()
            #expect(!removed.isEmpty)
            expectSame(try await network.snapshot(), before)
        }
    }

    /// A host whose kubelet uses the legacy backend: vpcnet detects it and writes there, not to nf_tables.
    @Test func aLegacyIptablesHostGetsLegacyRules() async throws {
        try await TestNetwork.with(record: try DatapathPlanTests.record()) { network in
            try await run(["ip", "netns", "exec", network.node, "iptables-legacy", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"])
            let kernel = try await LinuxKernel(namespacePath: network.nodePath)
            #expect(kernel.iptables.backend == .legacy)
            let datapath = try HostDatapath(kernel: kernel, configuration: DatapathConfiguration(), stateFile: HostDatapathTests.stateFile())
            #expect(try await datapath.reconcile(record: network.record).isConfigured)
            #expect(try await datapath.reconcile(record: network.record).changes.isEmpty)
            let legacy = try await run(["ip", "netns", "exec", network.node, "iptables-legacy-save"])
            let nft = try await run(["ip", "netns", "exec", network.node, "iptables-nft-save"])
            #expect(legacy.contains("-A POSTROUTING -m comment --comment \"vpcnet: SNAT\" -j VPCNET-SNAT") && !nft.contains("VPCNET"))
            _ = try await datapath.uninstall()
            #expect(try await !run(["ip", "netns", "exec", network.node, "iptables-legacy-save"]).contains("VPCNET"))
        }
    }

    /// A pod attached by the real `ptp` plugin (Debian's containernetworking-plugins) with one of
    /// the ENI's secondary addresses: VPC traffic leaves through that ENI with the pod's address;
    /// internet traffic leaves as the node. Replies come back both ways.
    @Test func podTrafficTakesItsENIToTheVPCAndLeavesAsTheNodeToTheInternet() async throws {
        try await TestNetwork.with(record: try DatapathPlanTests.record()) { network in
            let datapath = try await Self.datapath(network)
            let report = try await datapath.reconcile(record: network.record)
            #expect(report.isConfigured, "\(report.failures)")

            // Named under the network's prefix so TestNetwork's cleanup removes it whatever happens.
            let pod = "vpcnet-node-\(network.suffix)-pod"
            try await run(["ip", "netns", "add", pod])
            let eni = network.record.podENIs[0], podIP = eni.secondaryIPs[1]
            let config = """
                {"cniVersion":"1.0.0","name":"vpcnet-test","type":"ptp","mtu":9001,
                 "ipam":{"type":"static","addresses":[{"address":"\(podIP)/\(eni.subnetCIDR.prefixLength)","gateway":"\(eni.primaryIP)"}],
                         "routes":[{"dst":"0.0.0.0/0"}]}}
                """
            try await run(["env", "CNI_COMMAND=ADD", "CNI_CONTAINERID=test", "CNI_NETNS=/var/run/netns/\(pod)", "CNI_IFNAME=eth0",
                           "CNI_PATH=/usr/lib/cni", "ip", "netns", "exec", network.node, "/usr/lib/cni/ptp"], input: config)

            // The VPC's source/destination check: the pod's address is only accepted from its ENI.
            let vpc = network.vpc
            try await run(["ip", "netns", "exec", vpc, "iptables", "-t", "raw", "-A", "PREROUTING", "-i", "v6", "-s", "\(podIP)", "-j", "ACCEPT"])
            try await run(["ip", "netns", "exec", vpc, "iptables", "-t", "raw", "-A", "PREROUTING", "-s", "\(podIP)", "-j", "DROP"])
            try await run(["ip", "netns", "exec", pod, "ping", "-c", "2", "-W", "2", TestNetwork.vpcPeer])
            let arrivals = try await run(["ip", "netns", "exec", vpc, "iptables", "-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n"])
            let viaENI = arrivals.split(separator: "\n").first { $0.contains("v6") && $0.contains("ACCEPT") }
            #expect(viaENI.map { Int($0.split(separator: " ")[0])! >= 2 } == true, "the pod's packets arrive on ens6's link:\n\(arrivals)")

            // To the internet: only the node's primary address gets through the gateway.
            try await run(["ip", "netns", "exec", network.internet, "iptables", "-A", "INPUT", "-s", "10.0.0.10", "-p", "icmp", "-j", "ACCEPT"])
            try await run(["ip", "netns", "exec", pod, "ping", "-c", "2", "-W", "2", TestNetwork.internetPeer])
            let seen = try await run(["ip", "netns", "exec", network.internet, "iptables", "-L", "INPUT", "-v", "-x", "-n"])
            let fromNode = seen.split(separator: "\n").first { $0.contains("10.0.0.10") }
            #expect(fromNode.map { Int($0.split(separator: " ")[0])! >= 2 } == true, "the internet sees the node's address:\n\(seen)")

            try await run(["env", "CNI_COMMAND=DEL", "CNI_CONTAINERID=test", "CNI_NETNS=/var/run/netns/\(pod)", "CNI_IFNAME=eth0",
                           "CNI_PATH=/usr/lib/cni", "ip", "netns", "exec", network.node, "/usr/lib/cni/ptp"], input: config)
        }
    }
}

/// Compares two snapshots, reporting only the lines that differ.
func expectSame(_ actual: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let actualLines = actual.split(separator: "\n"), expectedLines = expected.split(separator: "\n")
    let extra = actualLines.filter { !expectedLines.contains($0) }, missing = expectedLines.filter { !actualLines.contains($0) }
    #expect(actual == expected, "extra:\n\(extra.joined(separator: "\n"))\nmissing:\n\(missing.joined(separator: "\n"))",
            sourceLocation: sourceLocation)
}
