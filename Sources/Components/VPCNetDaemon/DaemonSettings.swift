import HostNetwork
import VPCNetCore

/// The daemon's settings by name, read as the controller's are: a flag `--NAME`, an environment
/// variable `VPCNET_NAME`, a key `NAME` in the YAML file of `--config`; a flag beats the
/// environment, which beats the file.
public enum DaemonSetting: String, CaseIterable, Sendable {
    case nodeName = "node-name"
    case netns
    case stateDir = "state-dir"
    case socket
    case cniSourceDirs = "cni-source-dirs"
    case cniBinDir = "cni-bin-dir"
    case cniConfDir = "cni-conf-dir"
    case mtu
    case primaryInterface = "primary-interface"
    case externalSNAT = "external-snat"
    case excludedSNATCIDRs = "excluded-snat-cidrs"
    case metadataAccess = "metadata-access"
    case iptablesBackend = "iptables-backend"
    case sysctlDir = "sysctl-dir"
    case cooldown
    case taintWhenNoFreeIPs = "taint-when-no-free-ips"
    case deletePodsWithoutIPs = "delete-pods-without-ips"
    case collectInterval = "collect-interval"
    case collectGrace = "collect-grace"
    case resyncPeriod = "resync-period"
    case hotplugTimeout = "hotplug-timeout"

    public var environmentName: String { "VPCNET_" + rawValue.uppercased().replacing("-", with: "_") }

    public var help: String {
        switch self {
        case .nodeName: "This node's name (default: NODE_NAME, from the downward API). Required."
        case .netns: "Configure the network namespace at this path instead of the daemon's own (simulated nodes)."
        case .stateDir: "Root-only directory for the daemon's state (default /var/lib/vpcnet)."
        case .socket: "The IPAM service's unix socket (default /run/vpcnet/ipam.sock; its directory becomes root-only)."
        case .cniSourceDirs: "Where the vpcnet-ipam, ptp and loopback plugins to install are found, colon-separated (default /opt/vpcnet/cni:/usr/lib/cni)."
        case .cniBinDir: "The container runtime's CNI plugin directory (default /opt/cni/bin)."
        case .cniConfDir: "The container runtime's CNI configuration directory (default /etc/cni/net.d)."
        case .mtu: "MTU of the ENIs and pod interfaces (default 9001; 576…9001)."
        case .primaryInterface: "The node's own interface (default: the one with the primary ENI's MAC, else the default route's)."
        case .externalSNAT: "true when a NAT gateway translates pods' internet traffic: no SNAT on the node (default false)."
        case .excludedSNATCIDRs: "Destinations besides the VPC that pods reach with their own address, e.g. peered networks (CIDR,CIDR)."
        case .metadataAccess: "Pods' access to 169.254.169.254: blocked (default), allowed, or redirect:PORT (a node-local proxy such as kube2iam)."
        case .iptablesBackend: "auto (default: the one the host's other tools use), nft or legacy."
        case .sysctlDir: "A writable view of the host's /proc/sys (default /proc/sys; a container's own is read-only unless privileged)."
        case .cooldown: "How long a released address rests before reuse (default 150s; more than conntrack's 120 s SYN_SENT timeout)."
        case .taintWhenNoFreeIPs: "Taint the node k8s-vpcnet/no-free-ips:NoSchedule while no address is free (default true)."
        case .deletePodsWithoutIPs: "Delete a controller-owned pod whose ADD failed for lack of addresses, so it is rescheduled (default false)."
        case .collectInterval: "How often allocations of pods that no longer exist are released (default 60s)."
        case .collectGrace: "How old an allocation must be before a missing pod releases it (default 120s)."
        case .resyncPeriod: "How often the host is checked and repaired without any change (default 30s)."
        case .hotplugTimeout: "How long to wait for an attached ENI's interface before going ahead without it (default 60s)."
        }
    }
}

extension DaemonConfiguration {
    /// Builds the configuration from the three sources, checking every value.
    public static func resolve(flags: [DaemonSetting: String], environment: [String: String],
                               file: [DaemonSetting: String]) throws(ConfigurationError) -> DaemonConfiguration {
        func value(_ setting: DaemonSetting) -> (String, String)? {
            if let flag = flags[setting] { return (flag, "--\(setting.rawValue)") }
            if let env = environment[setting.environmentName], !env.isEmpty { return (env, setting.environmentName) }
            if setting == .nodeName, let env = environment["NODE_NAME"], !env.isEmpty { return (env, "NODE_NAME") }
            if let fromFile = file[setting] { return (fromFile, "\(setting.rawValue) in the config file") }
            return nil
        }
        func path(_ setting: DaemonSetting) throws(ConfigurationError) -> String? {
            guard let (text, source) = value(setting) else { return nil }
            guard text.hasPrefix("/") else { throw ConfigurationError("\(source): expected an absolute path, got \"\(text)\"") }
            return text
        }
        guard let (node, _) = value(.nodeName), !node.isEmpty else {
            throw ConfigurationError("the node name is required: --node-name, VPCNET_NODE_NAME or NODE_NAME (downward API: spec.nodeName)")
        }
        var configuration = DaemonConfiguration(nodeName: node)
        configuration.namespacePath = try path(.netns)
        if let path = try path(.stateDir) { configuration.stateDirectory = path }
        if let path = try path(.socket) { configuration.socketPath = path }
        if let path = try path(.sysctlDir) { configuration.sysctlDirectory = path }
        if let path = try path(.cniBinDir) { configuration.cniBinDirectory = path }
        if let path = try path(.cniConfDir) { configuration.cniConfDirectory = path }
        if let (text, source) = value(.cniSourceDirs) {
            let directories = text.split(separator: ":").map(String.init)
            guard !directories.isEmpty, directories.allSatisfy({ $0.hasPrefix("/") }) else {
                throw ConfigurationError("\(source): expected absolute directories separated by colons, got \"\(text)\"")
            }
            configuration.cniSourceDirectories = directories
        }
        if let (text, source) = value(.mtu) { configuration.datapath.mtu = UInt32(try SettingParser.integer(text, in: 576...9001, source: source)) }
        if let (text, _) = value(.primaryInterface) { configuration.datapath.primaryInterface = text }
        if let (text, source) = value(.externalSNAT) { configuration.datapath.externalSNAT = try SettingParser.bool(text, source: source) }
        if let (text, source) = value(.excludedSNATCIDRs) { configuration.datapath.excludedSNATCIDRs = try SettingParser.cidrs(text, source: source) }
        if let (text, source) = value(.metadataAccess) {
            switch text {
            case "blocked": configuration.datapath.metadata = .blocked
            case "allowed": configuration.datapath.metadata = .allowed
            case _ where text.hasPrefix("redirect:"):
                let port = try SettingParser.integer(String(text.dropFirst("redirect:".count)), in: 1...65_535, source: source)
                configuration.datapath.metadata = .redirected(port: UInt16(port))
            default: throw ConfigurationError("\(source): expected blocked, allowed or redirect:PORT, got \"\(text)\"")
            }
        }
        if let (text, source) = value(.iptablesBackend) {
            switch text {
            case "auto": configuration.iptablesBackend = nil
            case "nft": configuration.iptablesBackend = .nft
            case "legacy": configuration.iptablesBackend = .legacy
            default: throw ConfigurationError("\(source): expected auto, nft or legacy, got \"\(text)\"")
            }
        }
        if let (text, source) = value(.cooldown) { configuration.cooldown = try SettingParser.duration(text, source: source) }
        if let (text, source) = value(.taintWhenNoFreeIPs) { configuration.taintWhenNoFreeAddresses = try SettingParser.bool(text, source: source) }
        if let (text, source) = value(.deletePodsWithoutIPs) { configuration.deletePodsWithoutAddresses = try SettingParser.bool(text, source: source) }
        if let (text, source) = value(.collectInterval) { configuration.collectInterval = try SettingParser.duration(text, source: source) }
        if let (text, source) = value(.collectGrace) { configuration.collectGrace = try SettingParser.duration(text, source: source) }
        if let (text, source) = value(.resyncPeriod) { configuration.resyncPeriod = try SettingParser.duration(text, source: source) }
        if let (text, source) = value(.hotplugTimeout) { configuration.hotplugTimeout = try SettingParser.duration(text, source: source) }
        return configuration
    }
}
