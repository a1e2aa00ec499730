import Foundation
import Netlink
import Subprocess
import Testing
import VPCNetCore

/// Runs `ip` and returns its standard output; fails the test on a non-zero exit.
@discardableResult
func ip(_ arguments: String...) async throws -> String {
    let result = try await Subprocess.run(.name("ip"), arguments: Arguments(arguments), output: .string(limit: 1 << 20),
                                          error: .string(limit: 1 << 16))
    guard case .exited(0) = result.terminationStatus else {
        throw NetlinkTestError("ip \(arguments.joined(separator: " ")): \(result.standardError)")
    }
    return result.standardOutput
}

struct NetlinkTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A fresh network namespace with one veth standing in for an ENI; removed afterwards.
func withNamespace(_ body: (String, RouteSocket) async throws -> Void) async throws {
    let name = "vpcnet-nl-\(UInt32.random(in: 0...UInt32.max))"
    try await ip("netns", "add", name)
    do {
        try await ip("-n", name, "link", "add", "eni1", "address", "02:00:00:00:01:01", "type", "veth", "peer", "name", "peer1")
        try await body(name, try RouteSocket(namespacePath: "/var/run/netns/\(name)"))
    } catch {
        _ = try? await ip("netns", "del", name)
        throw error
    }
    try await ip("netns", "del", name)
}

/// libnl through our wrapper inside real network namespaces, read back with `ip -j` (iproute2), an
/// independent netlink client.
@Suite(.enabled(if: getuid() == 0, "netlink tests need root (network namespaces); CI runs them as root"))
struct NetlinkRootTests {
    @Test func linksAddressesRoutesAndRulesRoundTrip() async throws {
        try await withNamespace { namespace, socket in
            let mac = try #require(MACAddress("02:00:00:00:01:01"))
            let link = try #require(try socket.links().first { $0.macAddress == mac }, "the veth is found by its MAC")
            #expect(link.name == "eni1" && !link.isUp)
            try socket.setLink(index: link.index, mtu: 9001, up: true)
            let changed = try #require(try socket.links().first { $0.index == link.index })
            #expect(changed.mtu == 9001 && changed.isUp)

            let primary = InterfaceAddress(try IPv4Address(parsing: "10.0.1.10"), prefixLength: 24)
            try socket.addAddress(primary, index: link.index)
            #expect(try socket.addresses().contains { $0.index == link.index && $0.address == primary })
            #expect(try await ip("-n", namespace, "-4", "-j", "addr", "show", "dev", "eni1").contains("\"local\":\"10.0.1.10\""))

            let gateway = try IPv4Address(parsing: "10.0.1.1")
            let defaultRoute = Route(table: 10001, destination: try IPv4CIDR(parsing: "0.0.0.0/0"), gateway: gateway,
                                     interfaceIndex: link.index, onLink: true)
            try socket.addRoute(defaultRoute)
            try socket.addRoute(defaultRoute)  // replace: a second add is harmless
            #expect(try socket.routes().filter { $0.table == 10001 } == [defaultRoute])
            let shown = try await ip("-n", namespace, "-j", "route", "show", "table", "10001")
            #expect(shown.contains("\"gateway\":\"10.0.1.1\"") && shown.contains("\"dev\":\"eni1\"") && shown.contains("onlink"), "\(shown)")

            let rule = Rule(priority: 20010, table: 10001, source: try IPv4CIDR(parsing: "10.0.1.20/32"))
            try socket.addRule(rule)
            #expect(try socket.rules().contains(rule))
            #expect(try await ip("-n", namespace, "-j", "rule", "show", "priority", "20010").contains("\"src\":\"10.0.1.20\""))
            do throws(NetlinkError) {
                try socket.addRule(rule)
                Issue.record("a duplicate rule was accepted")
            } catch {
                #expect(error.isExists, "\(error)")
            }

            let marked = Rule(priority: 20005, table: 254, firewallMark: 0x4000)
            try socket.addRule(marked)
            #expect(try socket.rules().contains(marked))
            #expect(try await ip("-n", namespace, "rule", "show", "priority", "20005").contains("fwmark 0x4000/0x4000 lookup main"))
            try socket.deleteRule(marked)

            try socket.deleteRule(rule)
            try socket.deleteRoute(defaultRoute)
            try socket.deleteAddress(primary, index: link.index)
            #expect(try !socket.rules().contains(rule))
            #expect(try socket.routes().filter { $0.table == 10001 }.isEmpty)
            #expect(try !socket.addresses().contains { $0.address == primary })
        }
    }

    @Test func badRequestsFailWithLibnlsReason() async throws {
        try await withNamespace { _, socket in
            do throws(NetlinkError) {
                try socket.setLink(index: 99_999, mtu: 1500)
                Issue.record("changed a link that does not exist")
            } catch {
                #expect(error.description.contains("change link 99999"))
            }
        }
        #expect {
            try RouteSocket(namespacePath: "/var/run/netns/vpcnet-no-such-namespace")
        } throws: { error in
            (error as? NetworkNamespace.EnterError)?.description.contains("No such file or directory") == true
        }
    }

    /// Entries made with the conntrack tool (an independent ctnetlink client) are deleted by
    /// address, in both directions; others stay.
    @Test func conntrackEntriesOfAnAddressAreDeleted() async throws {
        try await withNamespace { namespace, _ in
            func conntrack(_ arguments: String...) async throws -> String {
                let result = try await Subprocess.run(.name("ip"), arguments: Arguments(["netns", "exec", namespace, "conntrack"] + arguments),
                                                      output: .string(limit: 1 << 20), error: .string(limit: 1 << 16))
                guard case .exited(0) = result.terminationStatus else { throw NetlinkTestError("conntrack \(arguments): \(result.standardError)") }
                return result.standardOutput
            }
            let entries = [("10.0.1.1", "10.0.4.4", "1111"), ("10.0.4.4", "10.0.1.1", "2222"), ("10.0.1.2", "10.0.4.4", "3333"),
                           ("10.0.1.3", "10.0.4.4", "4444")]
            for (source, destination, port) in entries {
                _ = try await conntrack("-I", "-s", source, "-d", destination, "-p", "tcp", "--sport", port, "--dport", "80",
                                        "--state", "ESTABLISHED", "-t", "300", "-u", "SEEN_REPLY")
            }
            let released: Set = [try IPv4Address(parsing: "10.0.1.1"), try IPv4Address(parsing: "10.0.1.3")]
            let deleted = try Conntrack.deleteEntries(involving: released, namespacePath: "/var/run/netns/\(namespace)")
            #expect(deleted == 3)
            let left = try await conntrack("-L")
            #expect(!left.contains("10.0.1.1") && !left.contains("10.0.1.3") && left.contains("src=10.0.1.2"), "\(left)")
            #expect(try Conntrack.deleteEntries(involving: released, namespacePath: "/var/run/netns/\(namespace)") == 0)
            #expect(try Conntrack.deleteEntries(involving: [], namespacePath: "/var/run/netns/\(namespace)") == 0)
        }
    }
}
