import Foundation
import Subprocess
import VPCNetCore

/// Runs a command; returns stdout, throws with stderr on a non-zero exit.
@discardableResult
func run(_ arguments: [String], input: String = "") async throws -> String {
    let result = try await Subprocess.run(.name(arguments[0]), arguments: Arguments(Array(arguments.dropFirst())), input: .string(input),
                                          output: .string(limit: 1 << 22), error: .string(limit: 1 << 16))
    guard case .exited(0) = result.terminationStatus else {
        throw IPTablesTestError(description: "\(arguments.joined(separator: " ")): \(result.terminationStatus) \(result.standardError)")
    }
    return result.standardOutput
}

/// A node on a simulated VPC, in network namespaces:
///
/// - `node`: the instance. `ens5` is its primary interface (the primary ENI's MAC, address and
///   default route as the OS would configure them); `ens6`, `ens7` stand in for the record's pod
///   ENIs (their MACs, nothing configured).
/// - `vpc`: the VPC fabric. One point-to-point veth per ENI carrying the subnet gateway, routes to
///   each ENI's addresses through that ENI (as the VPC delivers to the ENI owning an address), a
///   "VPC peer" at 10.0.4.4, and the way to the internet, which like an internet gateway only
///   lets out sources that are some instance's primary address.
/// - `internet`: a host at 198.51.100.2.
struct TestNetwork {
    let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    var node: String { "vpcnet-node-\(suffix)" }
    var vpc: String { "vpcnet-vpc-\(suffix)" }
    var internet: String { "vpcnet-inet-\(suffix)" }
    var nodePath: String { "/var/run/netns/\(node)" }
    let record: NodeNetworkRecord

    static let vpcPeer = "10.0.4.4", internetPeer = "198.51.100.2"

    func create() async throws {
        for namespace in [node, vpc, internet] { try await run(["ip", "netns", "add", namespace]) }
        try await run(["ip", "-n", node, "link", "set", "lo", "up"])
        try await run(["ip", "-n", vpc, "link", "set", "lo", "up"])
        try await run(["ip", "-n", vpc, "addr", "add", "\(Self.vpcPeer)/32", "dev", "lo"])
        try await run(["ip", "netns", "exec", vpc, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        for eni in record.enis {
            let name = "ens\(5 + eni.deviceIndex)", fabric = "v\(5 + eni.deviceIndex)"
            try await run(["ip", "-n", node, "link", "add", name, "address", eni.macAddress.description, "type", "veth",
                           "peer", "name", fabric, "netns", vpc])
            try await run(["ip", "-n", vpc, "addr", "add", "\(eni.gateway)/32", "dev", fabric])
            try await run(["ip", "-n", vpc, "link", "set", fabric, "up"])
            try await run(["ip", "-n", vpc, "route", "add", "\(eni.primaryIP)/32", "dev", fabric, "scope", "link"])
            for address in eni.secondaryIPs {
                try await run(["ip", "-n", vpc, "route", "add", "\(address)/32", "via", "\(eni.primaryIP)", "dev", fabric])
            }
        }
        let primary = record.primaryENI!
        try await run(["ip", "-n", node, "addr", "add", "\(primary.primaryIP)/\(primary.subnetCIDR.prefixLength)", "dev", "ens5"])
        try await run(["ip", "-n", node, "link", "set", "ens5", "up"])
        try await run(["ip", "-n", node, "route", "add", "default", "via", "\(primary.gateway)", "dev", "ens5"])
        // The internet gateway: only instances' primary addresses get out.
        try await run(["ip", "-n", vpc, "link", "add", "igw", "type", "veth", "peer", "name", "wan", "netns", internet])
        try await run(["ip", "-n", vpc, "addr", "add", "198.51.100.1/24", "dev", "igw"])
        try await run(["ip", "-n", vpc, "link", "set", "igw", "up"])
        try await run(["ip", "-n", internet, "addr", "add", "\(Self.internetPeer)/24", "dev", "wan"])
        try await run(["ip", "-n", internet, "link", "set", "wan", "up"])
        try await run(["ip", "-n", internet, "route", "add", "default", "via", "198.51.100.1"])
        try await run(["ip", "netns", "exec", vpc, "iptables", "-A", "FORWARD", "-o", "igw", "!", "-s", "\(primary.primaryIP)", "-j", "DROP"])
    }

    func destroy() async {
        for namespace in [node, vpc, internet, node + "-pod"] { _ = try? await run(["ip", "netns", "del", namespace]) }
    }

    /// Creates the network, runs `body`, removes the network whatever happens.
    static func with(record: NodeNetworkRecord, _ body: (TestNetwork) async throws -> Void) async throws {
        let network = TestNetwork(record: record)
        do {
            try await network.create()
            try await body(network)
        } catch {
            await network.destroy()
            throw error
        }
        await network.destroy()
    }

    // MARK: - Reading the node back with iproute2, iptables-save and sysctl

    func json(_ arguments: String...) async throws -> [[String: Any]] {
        let text = try await run(["ip", "-n", node, "-j"] + arguments)
        return (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]) ?? []
    }

    /// `ip -j rule` as `7200: from all to 10.0.1.1/32 lookup main`.
    func rules() async throws -> [String] {
        try await json("rule", "show").map { rule in
            var text = "\(rule["priority"]!): from \(rule["src"]!)"
            if let length = rule["srclen"] { text += "/\(length)" } else if rule["src"] as? String != "all" { text += "/32" }
            if let destination = rule["dst"] { text += " to \(destination)/\(rule["dstlen"] ?? 32)" }
            if let mark = rule["fwmark"] { text += " fwmark \(mark)/\(rule["fwmask"]!)" }
            return text + " lookup \(rule["table"]!)"
        }
    }

    /// `ip -j route show table T` as `default via 10.0.0.1 dev ens6 proto 165 onlink`.
    func routes(table: String) async throws -> [String] {
        try await json("route", "show", "table", table).map { route in
            var text = "\(route["dst"]!)"
            if let gateway = route["gateway"] { text += " via \(gateway)" }
            text += " dev \(route["dev"]!) proto \(route["protocol"] ?? "?")"
            if let scope = route["scope"] { text += " scope \(scope)" }
            if (route["flags"] as? [String])?.contains("onlink") == true { text += " onlink" }
            return text
        }.sorted()
    }

    /// Name, MTU, up, addresses of every link.
    func links() async throws -> [String] {
        try await json("addr", "show").map { link in
            let up = (link["flags"] as? [String])?.contains("UP") == true
            let addresses = (link["addr_info"] as? [[String: Any]] ?? []).filter { $0["family"] as? String == "inet" }
                .map { "\($0["local"]!)/\($0["prefixlen"]!)" }
            return "\(link["ifname"]!) mtu \(link["mtu"]!)\(up ? " up" : "") \(addresses)"
        }.sorted()
    }

    func sysctl(_ key: String) async throws -> String {
        try await run(["ip", "netns", "exec", node, "sysctl", "-n", key]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `iptables-save` without comments and counters, and without tables that hold nothing but
    /// empty built-in chains with an ACCEPT policy: nf_tables creates those on any iptables call,
    /// and they behave exactly as no table at all.
    func iptablesSave() async throws -> String {
        let text = try await run(["ip", "netns", "exec", node, "iptables-save"]).split(separator: "\n")
            .filter { !$0.hasPrefix("#") }.map { $0.replacing(/\[\d+:\d+\]/, with: "") }.joined(separator: "\n")
        return text.split(separator: "COMMIT\n", omittingEmptySubsequences: true).map { $0 + "COMMIT\n" }.filter { table in
            table.split(separator: "\n").contains { $0.hasPrefix("-A ") || ($0.hasPrefix(":") && !$0.hasSuffix(" ACCEPT ")) }
        }.joined()
    }

    /// Everything a reconcile or an uninstall can change, as one comparable text.
    func snapshot() async throws -> String {
        var text = try await links().joined(separator: "\n") + "\n"
        // IPv4 only: vpcnet routes IPv4, and IPv6 link-local routes appear whenever addrconf gets to them.
        text += try await json("-4", "route", "show", "table", "all").map { route in
            route.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }.sorted().joined(separator: "\n") + "\n"
        // Rules of equal priority do not overlap, so the order the kernel lists them in does not matter.
        text += try await rules().sorted().joined(separator: "\n") + "\n"
        for key in ["net.ipv4.ip_forward", "net.ipv4.conf.ens5.rp_filter", "net.ipv4.conf.ens6.rp_filter", "net.ipv4.conf.ens7.rp_filter"] {
            text += "\(key)=\(try await sysctl(key))\n"
        }
        return text + (try await iptablesSave())
    }
}
