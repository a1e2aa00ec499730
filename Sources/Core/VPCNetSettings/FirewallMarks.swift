import VPCNetCore

/// Packet-mark bits other networking software on a Kubernetes node uses, so vpcnet's return-path
/// mark stays clear of them. A mark bit shared with another program is set or cleared behind the
/// other's back: kube-proxy's masquerade bit on vpcnet's NodePort replies would SNAT them, and
/// vpcnet's restore of its bit would clear kube-proxy's.
public enum FirewallMarks {
    public struct Use: Sendable, Hashable {
        public var owner: String
        public var mask: UInt32
        /// Always on a node (kube-proxy): a mark that overlaps it is refused, not just documented.
        public var refused: Bool
    }

    /// Defaults of each project, from their documentation and source.
    public static let others: [Use] = [
        // kube-proxy's --iptables-masquerade-bit (14) and KUBE-MARK-DROP (bit 15, kubelet's --iptables-drop-bit).
        Use(owner: "kube-proxy's masquerade mark", mask: 0x4000, refused: true),
        Use(owner: "kube-proxy's and the kubelet's drop mark", mask: 0x8000, refused: true),
        // Felix's default iptablesMarkMask.
        Use(owner: "Calico (Felix's default mark mask)", mask: 0xffff_0000, refused: false),
        // Cilium's MagicMarkHostMask and its identity bits.
        Use(owner: "Cilium's host mark mask", mask: 0x0000_0f00, refused: false),
        Use(owner: "Cilium's security identity bits", mask: 0xffff_0000, refused: false),
    ]

    /// vpcnet's default: the bit Amazon's VPC CNI uses for the same purpose (`AWS_VPC_K8S_CNI_CONNMARK`),
    /// which Calico's policy mode and Cilium's chaining mode are documented to run beside.
    public static let defaultReturnPathMark: UInt32 = 0x80

    /// The others' uses that `mark` shares a bit with.
    public static func overlaps(_ mark: UInt32) -> [Use] { others.filter { $0.mask & mark != 0 } }
}

extension SettingFormat where Value == UInt32 {
    /// One packet-mark bit, `0x80` or `128`, clear of kube-proxy's bits (``FirewallMarks``).
    static var returnPathMark: Self {
        Self(parse: { (text, source) throws(ConfigurationError) in
                 let hex = text.lowercased().hasPrefix("0x")
                 guard let mark = UInt32(hex ? String(text.dropFirst(2)) : text, radix: hex ? 16 : 10), mark.nonzeroBitCount == 1 else {
                     throw ConfigurationError("\(source): expected one mark bit such as 0x80, got \"\(text)\"")
                 }
                 if let clash = FirewallMarks.overlaps(mark).first(where: \.refused) {
                     throw ConfigurationError("\(source): \(text) is \(clash.owner); choose a bit kube-proxy does not use, such as 0x80")
                 }
                 return mark
             },
             show: { "0x" + String($0, radix: 16) })
    }
}
