import VPCNetCore

/// How a node's datapath is laid out. The numbers are chosen to stay clear of other policy-routing
/// users on EC2 hosts: amazon-ec2-net-utils (tables 10000+, rules around 10000–32765), Amazon's VPC
/// CNI (tables 1–100, rules 512/1024/1536), NetworkManager's nm-cloud-setup (tables and rules 30400+)
/// and systemd-networkd (main table only, unless configured).
public struct DatapathConfiguration: Sendable, Hashable {
    public enum MetadataAccess: Sendable, Hashable {
        /// Pods cannot reach 169.254.169.254 (the default: pods should not borrow the node's role).
        case blocked
        case allowed
        /// Pods' metadata requests go to a proxy on the node (kube2iam, kiam style).
        case redirected(port: UInt16)
    }

    /// The node's own interface (device index 0). Nil: the link with the primary ENI's MAC, or
    /// failing that the interface of the main table's default route.
    public var primaryInterface: String?
    public var mtu: UInt32 = 9001
    /// Route table of the ENI at device index N is `tableBase + N`.
    public var tableBase: UInt32 = 7300
    /// `to <pod address> lookup main`: deliver to local pods before any ENI table is consulted.
    public var toPodPriority: UInt32 = 7200
    /// `fwmark <mark> lookup main`: replies of connections that came in on the primary interface.
    public var connmarkPriority: UInt32 = 7205
    /// `from <pod address> [to <VPC>] lookup <ENI table>`: leave through the ENI that owns the address.
    public var fromPodPriority: UInt32 = 7210
    /// Connection mark for connections that entered through the primary interface (bit, also the
    /// mask), clear of kube-proxy's, Calico's and Cilium's bits (``FirewallMarks``).
    public var connmark: UInt32 = FirewallMarks.defaultReturnPathMark
    /// A NAT gateway (or similar) translates pods' traffic to the internet: no SNAT on the node.
    public var externalSNAT = false
    /// Destinations treated like the VPC: never SNATed, routed through the pod's ENI.
    public var excludedSNATCIDRs: [IPv4CIDR] = []
    public var metadata: MetadataAccess = .blocked
    /// The prefix of the host-side veths the `ptp` plugin creates for pods.
    public var hostVethPrefix = "veth"
    /// Route protocol number marking vpcnet's routes, so only those are ever removed (RTPROT_STATIC
    /// would be shared with others; 0xa5 is unassigned in /etc/iproute2/rt_protos).
    public var routeProtocol: UInt8 = 0xa5

    public init() {}

    public func table(forDeviceIndex index: Int) -> UInt32 { tableBase + UInt32(index) }

    /// Tables vpcnet owns: anything else in them is removed.
    public var ownedTables: ClosedRange<UInt32> { tableBase...(tableBase + 99) }
    /// Rule priorities vpcnet owns.
    public var ownedPriorities: Set<UInt32> { [toPodPriority, connmarkPriority, fromPodPriority] }
}

/// The two iptables backends a host may use. Rules written to the one the host's other tools do
/// not use are silently ignored by the kernel's other half, so the choice must match the host.
public enum IPTablesBackend: String, Sendable, CaseIterable {
    case nft, legacy
}
