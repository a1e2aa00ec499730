import VPCNetCore
import VPCNetSettings

/// vpcnet's iptables rules, in its own chains, in `iptables-save` form so what the kernel reports
/// can be compared line by line with what is wanted. Applied as one `iptables-restore --noflush`
/// batch that declares (and so flushes) only vpcnet's chains; jumps from the built-in chains are
/// added only when missing, so nobody else's rules are touched.
public struct IPTablesRules: Sendable, Hashable {
    public struct Chain: Sendable, Hashable {
        public var table: String
        public var name: String
        /// The built-in chain that jumps here, and the match of that jump.
        public var hook: String
        public var hookMatch: String
        public var rules: [String]

        /// The jump as `iptables-save` prints it.
        public var jump: String { "-A \(hook) \(hookMatch) -j \(name)" }
    }

    public var chains: [Chain]

    public init(record: NodeNetworkRecord, configuration: DatapathConfiguration, primaryInterface: String) {
        let primaryIP = record.primaryENI?.primaryIP
        let veths = "\(configuration.hostVethPrefix)+"
        let mark = "0x" + String(configuration.connmark, radix: 16)
        var chains: [Chain] = []

        // Egress to the internet leaves as the node (the VPC routes only addresses it knows back).
        var snat: [String] = []
        for cidr in record.vpcCIDRs {
            snat.append("-A VPCNET-SNAT -d \(cidr) -m comment --comment \"vpcnet: VPC\" -j RETURN")
        }
        for cidr in configuration.excludedSNATCIDRs {
            snat.append("-A VPCNET-SNAT -d \(cidr) -m comment --comment \"vpcnet: excluded from SNAT\" -j RETURN")
        }
        if !configuration.externalSNAT, let primaryIP {
            snat.append("-A VPCNET-SNAT -m comment --comment \"vpcnet: pod egress as the node\" -m addrtype ! --dst-type LOCAL -j SNAT --to-source \(primaryIP) --random-fully")
        }
        chains.append(Chain(table: "nat", name: "VPCNET-SNAT", hook: "POSTROUTING", hookMatch: "-m comment --comment \"vpcnet: SNAT\"",
                            rules: configuration.externalSNAT ? [] : snat))

        // Replies to connections that arrived on the primary interface (NodePorts, SNATed flows)
        // must leave through it: mark them, restore the mark on the pod side, route marked by main.
        chains.append(Chain(table: "mangle", name: "VPCNET-CONNMARK", hook: "PREROUTING", hookMatch: "-m comment --comment \"vpcnet: connmark\"", rules: [
            "-A VPCNET-CONNMARK -i \(primaryInterface) -m comment --comment \"vpcnet: entered on the primary interface\" -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-xmark \(mark)/\(mark)",
            "-A VPCNET-CONNMARK -i \(veths) -m comment --comment \"vpcnet: pod replies\" -j CONNMARK --restore-mark --nfmask \(mark) --ctmask \(mark)",
        ]))

        switch configuration.metadata {
        case .allowed:
            chains.append(Chain(table: "filter", name: "VPCNET-FORWARD", hook: "FORWARD", hookMatch: "-m comment --comment \"vpcnet: forward\"", rules: []))
            chains.append(Chain(table: "nat", name: "VPCNET-PREROUTING", hook: "PREROUTING", hookMatch: "-m comment --comment \"vpcnet: prerouting\"", rules: []))
        case .blocked:
            chains.append(Chain(table: "filter", name: "VPCNET-FORWARD", hook: "FORWARD", hookMatch: "-m comment --comment \"vpcnet: forward\"", rules: [
                "-A VPCNET-FORWARD -d 169.254.169.254/32 -i \(veths) -m comment --comment \"vpcnet: pods may not use the node metadata service\" -j REJECT --reject-with icmp-port-unreachable",
            ]))
            chains.append(Chain(table: "nat", name: "VPCNET-PREROUTING", hook: "PREROUTING", hookMatch: "-m comment --comment \"vpcnet: prerouting\"", rules: []))
        case .redirected(let port):
            chains.append(Chain(table: "filter", name: "VPCNET-FORWARD", hook: "FORWARD", hookMatch: "-m comment --comment \"vpcnet: forward\"", rules: []))
            var redirect: [String] = []
            if let primaryIP {
                redirect.append("-A VPCNET-PREROUTING -d 169.254.169.254/32 -i \(veths) -p tcp -m comment --comment \"vpcnet: metadata proxy\" -m tcp --dport 80 -j DNAT --to-destination \(primaryIP):\(port)")
            }
            chains.append(Chain(table: "nat", name: "VPCNET-PREROUTING", hook: "PREROUTING", hookMatch: "-m comment --comment \"vpcnet: prerouting\"", rules: redirect))
        }
        self.chains = chains
    }

    /// The `iptables-restore --noflush` input that makes vpcnet's chains exactly these rules, given
    /// the current `iptables-save` output (to add only missing jumps). Nil when nothing differs.
    public func restoreInput(current save: String) -> String? {
        let current = IPTablesSave(save)
        var text = ""
        for table in ["filter", "mangle", "nat"] {
            let mine = chains.filter { $0.table == table }
            guard !mine.isEmpty else { continue }
            let unchanged = mine.allSatisfy { chain in
                current.hasChain(table: table, chain: chain.name) && current.rules(table: table, chain: chain.name) == chain.rules
                    && current.rules(table: table, chain: chain.hook).contains(chain.jump)
            }
            if unchanged { continue }
            text += "*\(table)\n"
            for chain in mine { text += ":\(chain.name) - [0:0]\n" }
            for chain in mine {
                text += "-F \(chain.name)\n"
                for rule in chain.rules { text += rule + "\n" }
                if !current.rules(table: table, chain: chain.hook).contains(chain.jump) { text += chain.jump + "\n" }
            }
            text += "COMMIT\n"
        }
        return text.isEmpty ? nil : text
    }

    /// Input that removes every trace of vpcnet (jumps first, then the chains).
    public static func removalInput(current save: String) -> String? {
        let current = IPTablesSave(save)
        var text = ""
        for table in ["filter", "mangle", "nat"] {
            let chains = current.chains(table: table).filter { $0.hasPrefix("VPCNET-") }
            guard !chains.isEmpty else { continue }
            text += "*\(table)\n"
            for (chain, rules) in current.allRules(table: table) where !chain.hasPrefix("VPCNET-") {
                for rule in rules where chains.contains(where: { rule.hasSuffix("-j \($0)") }) { text += "-D" + rule.dropFirst(2) + "\n" }
            }
            for chain in chains { text += "-F \(chain)\n-X \(chain)\n" }
            text += "COMMIT\n"
        }
        return text.isEmpty ? nil : text
    }
}

/// `iptables-save` output, by table and chain.
struct IPTablesSave {
    private var tables: [String: (chains: [String], rules: [String: [String]])] = [:]

    init(_ text: String) {
        var table = ""
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("*") {
                table = String(line.dropFirst())
                tables[table] = ([], [:])
            } else if line.hasPrefix(":") {
                let name = String(line.dropFirst().prefix { $0 != " " })
                tables[table]?.chains.append(name)
            } else if line.hasPrefix("-A ") {
                let chain = String(line.dropFirst(3).prefix { $0 != " " })
                tables[table]?.rules[chain, default: []].append(line)
            }
        }
    }

    func hasChain(table: String, chain: String) -> Bool { tables[table]?.chains.contains(chain) ?? false }
    func chains(table: String) -> [String] { tables[table]?.chains ?? [] }
    func rules(table: String, chain: String) -> [String] { tables[table]?.rules[chain] ?? [] }
    func allRules(table: String) -> [(String, [String])] { (tables[table]?.rules ?? [:]).sorted { $0.key < $1.key } }
}
