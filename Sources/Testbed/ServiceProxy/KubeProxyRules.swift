import Crypto
import Foundation

/// The rules kube-proxy's iptables mode writes, rendered from Services and their endpoints: a
/// faithful copy of `syncProxyRules` in `pkg/proxy/iptables/proxier.go` of the kube-proxy 1.31
/// line, for an IPv4 node run as EKS runs it (no `--cluster-cidr`, so no local-traffic
/// detector; `masqueradeAll` false; masquerade bit 14; `nodePortAddresses` unset; localhost
/// NodePorts on). Where this differs from kube-proxy, docs/simulator.md says so; in short: every
/// sync is a full sync, the nfacct counters are left out (kube-proxy leaves them out too when the
/// kernel has no nfacct), there are no load balancer VIPs and no topology hints.
public struct KubeProxyRules: Sendable {
    /// `--iptables-masquerade-bit`'s default.
    public static let masqueradeBit = 14
    /// Go's `fmt.Sprintf("%#08x", 1<<masqueradeBit)` (eight digits after the `0x`), as kube-proxy spells it.
    public static let masqueradeMark = "0x" + String(format: "%08x", 1 << masqueradeBit)
    /// The chain whose disappearance tells kube-proxy someone flushed its tables.
    public static let canaryChain = "KUBE-PROXY-CANARY"

    public var nodeName: String
    /// `iptables` 1.6.2 or later: MASQUERADE gets `--random-fully`.
    public var randomFully: Bool
    /// `net.netfilter.nf_conntrack_tcp_be_liberal` is set: no INVALID drop in KUBE-FORWARD.
    public var conntrackLiberal: Bool

    public init(nodeName: String, randomFully: Bool = true, conntrackLiberal: Bool = false) {
        self.nodeName = nodeName
        self.randomFully = randomFully
        self.conntrackLiberal = conntrackLiberal
    }

    /// A jump from a built-in chain kube-proxy ensures at the top of it (`iptablesJumpChains` and
    /// `iptablesKubeletJumpChains`, in kube-proxy's order; each is inserted at position 1).
    public struct Jump: Sendable, Hashable {
        public var table: String
        public var chain: String
        public var arguments: [String]
    }

    public static let jumps: [Jump] = {
        let new = ["-m", "conntrack", "--ctstate", "NEW"]
        let table: [(String, String, String, String, [String])] = [
            ("filter", "KUBE-EXTERNAL-SERVICES", "INPUT", "kubernetes externally-visible service portals", new),
            ("filter", "KUBE-EXTERNAL-SERVICES", "FORWARD", "kubernetes externally-visible service portals", new),
            ("filter", "KUBE-NODEPORTS", "INPUT", "kubernetes health check service ports", []),
            ("filter", "KUBE-SERVICES", "FORWARD", "kubernetes service portals", new),
            ("filter", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", new),
            ("filter", "KUBE-FORWARD", "FORWARD", "kubernetes forwarding rules", []),
            ("filter", "KUBE-PROXY-FIREWALL", "INPUT", "kubernetes load balancer firewall", new),
            ("filter", "KUBE-PROXY-FIREWALL", "OUTPUT", "kubernetes load balancer firewall", new),
            ("filter", "KUBE-PROXY-FIREWALL", "FORWARD", "kubernetes load balancer firewall", new),
            ("nat", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", []),
            ("nat", "KUBE-SERVICES", "PREROUTING", "kubernetes service portals", []),
            ("nat", "KUBE-POSTROUTING", "POSTROUTING", "kubernetes postrouting rules", []),
            ("filter", "KUBE-FIREWALL", "INPUT", "", []),
            ("filter", "KUBE-FIREWALL", "OUTPUT", "", []),
        ]
        return table.map { tableName, target, chain, comment, extra in
            Jump(table: tableName, chain: chain, arguments: extra + (comment.isEmpty ? [] : ["-m", "comment", "--comment", comment]) + ["-j", target])
        }
    }()

    /// The chains kube-proxy creates itself (EnsureChain) for the jumps.
    public static var jumpTargets: Set<[String]> { Set(jumps.map { [$0.table, $0.arguments.last!] }) }

    /// The `iptables-restore --noflush` input of one sync: the filter and nat tables' kube-proxy
    /// chains, rewritten whole, and `-X` for service chains in `existingNATChains` (from
    /// `iptables-save -t nat`) that no Service uses any more.
    public func render(_ ports: [ServicePortInfo], existingNATChains: Set<String> = []) -> String {
        let filterChains = ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL"]
            .map(Self.chainLine)
        var filter: [String] = [
            "-A KUBE-FIREWALL -m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
        ]
        var natChains = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"].map(Self.chainLine)
        let mark = Self.masqueradeMark
        var nat: [String] = [
            "-A KUBE-POSTROUTING -m mark ! --mark \(mark)/\(mark) -j RETURN",
            "-A KUBE-POSTROUTING -j MARK --xor-mark \(mark)",
            "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE" + (randomFully ? " --random-fully" : ""),
            "-A KUBE-MARK-MASQ -j MARK --or-mark \(mark)",
        ]
        var active: Set<String> = []
        for port in ports { write(port, filter: &filter, natChains: &natChains, nat: &nat, active: &active) }
        for chain in existingNATChains.subtracting(active).sorted() where Self.isServiceChain(chain) {
            natChains.append(Self.chainLine(chain))
            nat.append("-X \(chain)")
        }
        nat.append("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
        if !conntrackLiberal { filter.append("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP") }
        filter.append("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark \(mark)/\(mark) -j ACCEPT")
        filter.append("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        return (["*filter"] + filterChains + filter + ["COMMIT", "*nat"] + natChains + nat + ["COMMIT"]).joined(separator: "\n") + "\n"
    }

    // MARK: One service port

    private func write(_ port: ServicePortInfo, filter: inout [String], natChains: inout [String], nat: inout [String], active: inout Set<String>) {
        let name = port.name, proto = port.protocol
        let (cluster, local, reachable, hasEndpoints) = port.categorized()
        let clusterChain = Self.chainName("KUBE-SVC-", name, proto), localChain = Self.chainName("KUBE-SVL-", name, proto)
        let externalChain = Self.chainName("KUBE-EXT-", name, proto)
        let usesClusterChain = !cluster.isEmpty && port.usesClusterEndpoints
        let usesLocalChain = !local.isEmpty && port.usesLocalEndpoints
        let internalChain = port.internalPolicyLocal ? localChain : clusterChain
        let hasInternal = hasEndpoints && !(port.internalPolicyLocal && local.isEmpty)
        let externalPolicyChain = port.externalPolicyLocal ? localChain : clusterChain
        let hasExternal = hasEndpoints && !(port.externalPolicyLocal && local.isEmpty)
        let usesExternalChain = hasEndpoints && port.externallyAccessible

        // With no endpoints at all, both reject; otherwise a Local policy without local endpoints drops.
        let refusal: (target: String, comment: String) = hasEndpoints ? ("DROP", "\"\(name) has no local endpoints\"") : ("REJECT", "\"\(name) has no endpoints\"")
        let internalFilter = refusal, externalFilter = refusal
        let match = "-m \(proto) -p \(proto)"
        let clusterIP = "-d \(port.clusterIP) --dport \(port.port)"
        if hasInternal {
            nat.append("-A KUBE-SERVICES -m comment --comment \"\(name) cluster IP\" \(match) \(clusterIP) -j \(internalChain)")
        } else {
            filter.append("-A KUBE-SERVICES -m comment --comment \(internalFilter.comment) \(match) \(clusterIP) -j \(internalFilter.target)")
        }
        for externalIP in port.externalIPs {
            if hasEndpoints {
                nat.append("-A KUBE-SERVICES -m comment --comment \"\(name) external IP\" \(match) -d \(externalIP) --dport \(port.port) -j \(externalChain)")
            }
            if !hasExternal {
                filter.append("-A KUBE-EXTERNAL-SERVICES -m comment --comment \(externalFilter.comment) \(match) -d \(externalIP) --dport \(port.port) -j \(externalFilter.target)")
            }
        }
        if let nodePort = port.nodePort {
            if hasEndpoints { nat.append("-A KUBE-NODEPORTS -m comment --comment \(name) \(match) --dport \(nodePort) -j \(externalChain)") }
            if !hasExternal {
                filter.append("-A KUBE-EXTERNAL-SERVICES -m comment --comment \(externalFilter.comment) -m addrtype --dst-type LOCAL \(match) --dport \(nodePort) -j \(externalFilter.target)")
            }
        }
        if let healthCheck = port.healthCheckNodePort {
            filter.append("-A KUBE-NODEPORTS -m comment --comment \"\(name) health check node port\" -m tcp -p tcp --dport \(healthCheck) -j ACCEPT")
        }
        // No local-traffic detector and no masqueradeAll: the internal chain gets no masquerade rule.
        if usesExternalChain {
            natChains.append(Self.chainLine(externalChain))
            active.insert(externalChain)
            if !port.externalPolicyLocal {
                nat.append("-A \(externalChain) -m comment --comment \"masquerade traffic for \(name) external destinations\" -j KUBE-MARK-MASQ")
            } else {
                // (The "pod traffic" short cut needs a local-traffic detector.)
                nat.append("-A \(externalChain) -m comment --comment \"masquerade LOCAL traffic for \(name) external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ")
                nat.append("-A \(externalChain) -m comment --comment \"route LOCAL traffic for \(name) external destinations\" -m addrtype --src-type LOCAL -j \(clusterChain)")
            }
            if hasExternal { nat.append("-A \(externalChain) -j \(externalPolicyChain)") }
        }
        if usesClusterChain {
            natChains.append(Self.chainLine(clusterChain))
            active.insert(clusterChain)
            nat += dispatch(port, chain: clusterChain, endpoints: cluster)
        }
        if usesLocalChain {
            natChains.append(Self.chainLine(localChain))
            active.insert(localChain)
            nat += dispatch(port, chain: localChain, endpoints: local)
        }
        for endpoint in reachable {
            let chain = Self.endpointChainName(name, proto, endpoint.description)
            natChains.append(Self.chainLine(chain))
            active.insert(chain)
            nat.append("-A \(chain) -m comment --comment \(name) -s \(endpoint.ip) -j KUBE-MARK-MASQ")
            let recent = port.stickyMaxAgeSeconds == nil ? "" : " -m recent --name \(chain) --set"
            nat.append("-A \(chain) -m comment --comment \(name)\(recent) \(match) -j DNAT --to-destination \(endpoint.description)")
        }
    }

    /// `writeServiceToEndpointRules`: affinity first, then one rule per endpoint, each taking its
    /// share of what the rules before it left (`1/(n-i)`, to ten places).
    private func dispatch(_ port: ServicePortInfo, chain: String, endpoints: [ServicePortInfo.Endpoint]) -> [String] {
        var rules: [String] = []
        if let seconds = port.stickyMaxAgeSeconds {
            for endpoint in endpoints {
                let target = Self.endpointChainName(port.name, port.protocol, endpoint.description)
                rules.append("-A \(chain) -m comment --comment \"\(port.name) -> \(endpoint.description)\" -m recent --name \(target) --rcheck --seconds \(seconds) --reap -j \(target)")
            }
        }
        for (index, endpoint) in endpoints.enumerated() {
            let target = Self.endpointChainName(port.name, port.protocol, endpoint.description)
            let statistic = index < endpoints.count - 1
                ? " -m statistic --mode random --probability \(String(format: "%0.10f", 1.0 / Double(endpoints.count - index)))" : ""
            rules.append("-A \(chain) -m comment --comment \"\(port.name) -> \(endpoint.description)\"\(statistic) -j \(target)")
        }
        return rules
    }

    // MARK: Names

    static func chainLine(_ chain: String) -> String { ":\(chain) - [0:0]" }

    /// `KUBE-SVC-`, `KUBE-SVL-`, `KUBE-EXT-` and `KUBE-FW-` share `portProtoHash`.
    public static func chainName(_ prefix: String, _ servicePortName: String, _ protocol: String) -> String {
        prefix + hash(servicePortName + `protocol`)
    }

    /// `servicePortEndpointChainName`.
    public static func endpointChainName(_ servicePortName: String, _ protocol: String, _ endpoint: String) -> String {
        "KUBE-SEP-" + hash(servicePortName + `protocol` + endpoint)
    }

    static func isServiceChain(_ chain: String) -> Bool {
        ["KUBE-SVC-", "KUBE-SVL-", "KUBE-SEP-", "KUBE-FW-", "KUBE-EXT-"].contains { chain.hasPrefix($0) }
    }

    /// The first 16 characters of the standard base32 encoding of the SHA-256 digest. Base32 is
    /// written out here: neither Foundation nor swift-crypto has it, and 16 characters need 10 bytes.
    static func hash(_ text: String) -> String {
        let digest = Array(SHA256.hash(data: Data(text.utf8)))
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var bits = 0, buffer = 0, output = ""
        for byte in digest.prefix(10) {
            buffer = ((buffer << 8) | Int(byte)) & 0xFFFF
            bits += 8
            while bits >= 5 {
                output.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        return output
    }
}
