import VPCNetContracts
import VPCNetCore

/// Everything the daemon needs to know, with production defaults; paths are configurable so
/// several simulated nodes can share one machine. Operators set it through ``DaemonSettings``.
public struct DaemonConfiguration: Sendable {
    public var nodeName: String
    /// The network namespace to configure (a simulated node); nil: the daemon's own.
    public var namespacePath: String?
    public var stateDirectory = WellKnown.Paths.stateDirectory
    public var socketPath = WellKnown.Paths.ipamSocket
    public var cniSourceDirectories = WellKnown.Paths.cniSourceDirectories
    public var cniBinDirectory = WellKnown.Paths.cniBinDirectory
    public var cniConfDirectory = WellKnown.Paths.cniConfDirectory
    public var datapath = DatapathConfiguration()
    /// nil: detect the backend the host's other tools use.
    public var iptablesBackend: IPTablesBackend?
    public var sysctlDirectory = "/proc/sys"
    /// How long a released address rests. Longer than conntrack's SYN_SENT timeout (120 s), so
    /// no half-open flow of the old pod survives into the new one.
    public var cooldown: Duration = .seconds(150)
    public var taintWhenNoFreeAddresses = true
    public var deletePodsWithoutAddresses = false
    public var collectInterval: Duration = .seconds(60)
    /// How old an allocation must be before a missing pod releases it.
    public var collectGrace: Duration = .seconds(120)
    public var resyncPeriod: Duration = .seconds(30)
    public var hotplugTimeout: Duration = .seconds(60)
    /// Chain the `portmap` plugin (pods' `hostPort`s).
    public var hostPorts = true
    /// Chain the `bandwidth` plugin (the ingress/egress-bandwidth annotations). Off by default:
    /// before containernetworking/plugins v1.9.1 it crashes on CHECK of a pod without a limit
    /// (containernetworking/plugins#1221), and CRI-O runs CHECK.
    public var bandwidthLimits = false

    public init(nodeName: String) { self.nodeName = nodeName }

    public var spoolDirectory: String { WellKnown.Paths.spoolDirectory(stateDirectory: stateDirectory) }
    /// The allocations, next to the socket (see ``WellKnown/Paths/allocationsFile(socketPath:)``).
    public var allocationsPath: String { WellKnown.Paths.allocationsFile(socketPath: socketPath) }
    /// Where daemons kept the allocations before they moved next to the socket; adopted at start.
    public var legacyAllocationsPath: String { stateDirectory + "/ipam.json" }

    /// Builds the configuration from flags, environment and settings file (each keyed by setting name).
    public static func resolve(flags: [String: String], environment: [String: String],
                               file: [String: String]) throws(ConfigurationError) -> DaemonConfiguration {
        try DaemonSettings.table.resolve(flags: flags, environment: environment, file: file)
    }
}

/// The daemon's settings: one row each (see ``SettingTable``). The executable's flags are
/// generated from this table by `scripts/gen-setting-options`.
public enum DaemonSettings {
    public static let table = SettingTable(component: "vpcnet-daemon", defaults: DaemonConfiguration(nodeName: ""), settings: [
        .value("node-name", \.nodeName, .text, help: "This node's name (the downward API's spec.nodeName, as NODE_NAME).",
               aliases: ["NODE_NAME"],
               required: "the node name is required: --node-name, VPCNET_NODE_NAME or NODE_NAME (downward API: spec.nodeName)"),
        .value("netns", \.namespacePath, .absolutePath,
               help: "Configure the network namespace at this path instead of the daemon's own (simulated nodes)."),
        .value("state-dir", \.stateDirectory, .absolutePath, help: "Root-only directory for the daemon's state."),
        .value("socket", \.socketPath, .absolutePath, help: "The IPAM service's unix socket; its directory (root-only) holds the allocations too (a tmpfs: see docs/daemon.md)."),
        .value("cni-source-dirs", \.cniSourceDirectories, .directories,
               help: "Where the vpcnet-ipam, ptp and loopback plugins to install are found, colon-separated."),
        .value("cni-bin-dir", \.cniBinDirectory, .absolutePath, help: "The container runtime's CNI plugin directory."),
        .value("cni-conf-dir", \.cniConfDirectory, .absolutePath, help: "The container runtime's CNI configuration directory."),
        .value("mtu", \.datapath.mtu, .integer(in: 576...9001), help: "MTU of the ENIs and pod interfaces (576…9001)."),
        .value("primary-interface", \.datapath.primaryInterface, .text, help: "The node's own interface.",
               default: "the one with the primary ENI's MAC, else the default route's"),
        .value("external-snat", \.datapath.externalSNAT, .bool,
               help: "true when a NAT gateway translates pods' internet traffic: no SNAT on the node."),
        .value("return-path-mark", \.datapath.connmark, .returnPathMark,
               help: "The packet-mark bit that sends replies of connections that came in on the primary interface (NodePorts) back out of it; not kube-proxy's 0x4000 or 0x8000 (docs/host-network.md lists others' bits)."),
        .value("excluded-snat-cidrs", \.datapath.excludedSNATCIDRs, .cidrs,
               help: "Destinations besides the VPC that pods reach with their own address, e.g. peered networks (CIDR,CIDR)."),
        .value("metadata-access", \.datapath.metadata, .metadataAccess,
               help: "Pods' access to 169.254.169.254: blocked, allowed, or redirect:PORT (a node-local proxy such as kube2iam)."),
        .value("host-ports", \.hostPorts, .bool,
               help: "Chain the portmap plugin so pods' hostPorts work (false: they are ignored, as by most AWS CNIs)."),
        .value("bandwidth", \.bandwidthLimits, .bool,
               help: "Chain the bandwidth plugin so the kubernetes.io/ingress-bandwidth and egress-bandwidth pod annotations shape traffic (needs containernetworking/plugins v1.9.1+ with CRI-O: older ones crash on CHECK)."),
        .value("iptables-backend", \.iptablesBackend, .choice(["auto": nil, "nft": .nft, "legacy": .legacy]),
               help: "auto (the one the host's other tools use), nft or legacy."),
        .value("sysctl-dir", \.sysctlDirectory, .absolutePath,
               help: "A writable view of the host's /proc/sys (a container's own is read-only unless privileged)."),
        .value("cooldown", \.cooldown, .duration,
               help: "How long a released address rests before reuse (more than conntrack's 120 s SYN_SENT timeout)."),
        .value("taint-when-no-free-ips", \.taintWhenNoFreeAddresses, .bool,
               help: "Taint the node k8s-vpcnet/no-free-ips:NoSchedule while no address is free."),
        .value("delete-pods-without-ips", \.deletePodsWithoutAddresses, .bool,
               help: "Delete a controller-owned pod whose ADD failed for lack of addresses, so it is rescheduled."),
        .value("collect-interval", \.collectInterval, .duration, help: "How often allocations of pods that no longer exist are released."),
        .value("collect-grace", \.collectGrace, .duration, help: "How old an allocation must be before a missing pod releases it."),
        .value("resync-period", \.resyncPeriod, .duration, help: "How often the host is checked and repaired without any change."),
        .value("hotplug-timeout", \.hotplugTimeout, .duration,
               help: "How long to wait for an attached ENI's interface before going ahead without it."),
    ])
}

extension SettingFormat where Value == DatapathConfiguration.MetadataAccess {
    /// `blocked`, `allowed` or `redirect:PORT`.
    static var metadataAccess: Self {
        Self(parse: { (text, source) throws(ConfigurationError) in
                 switch text {
                 case "blocked": return .blocked
                 case "allowed": return .allowed
                 case _ where text.hasPrefix("redirect:"):
                     return .redirected(port: UInt16(try SettingParser.integer(String(text.dropFirst("redirect:".count)), in: 1...65_535, source: source)))
                 default: throw ConfigurationError("\(source): expected blocked, allowed or redirect:PORT, got \"\(text)\"")
                 }
             },
             show: { access in
                 switch access {
                 case .blocked: "blocked"
                 case .allowed: "allowed"
                 case .redirected(let port): "redirect:\(port)"
                 }
             })
    }
}
