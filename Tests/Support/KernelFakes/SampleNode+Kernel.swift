import Netlink
import TestSupport

extension SampleNode {
    /// A fake kernel holding the sample node's interfaces (the second pod ENI's only with `withENI2`).
    public static func kernel(withENI2: Bool = false) -> FakeKernel {
        var links = [
            Link(index: 1, name: "lo", macAddress: nil, mtu: 65536, isUp: true),
            Link(index: 2, name: "ens5", macAddress: primaryMAC, mtu: 9001, isUp: true),
            Link(index: 3, name: "ens6", macAddress: eni1MAC, mtu: 1500, isUp: false),
        ]
        var sysctls = ["net/ipv4/ip_forward": "0", "net/ipv4/conf/ens5/rp_filter": "1", "net/ipv4/conf/ens6/rp_filter": "1"]
        if withENI2 {
            links.append(Link(index: 4, name: "ens7", macAddress: eni2MAC, mtu: 1500, isUp: false))
            sysctls["net/ipv4/conf/ens7/rp_filter"] = "1"
        }
        return FakeKernel(links: links, sysctls: sysctls)
    }
}
