#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import VPCNetContracts
import VPCNetCore

/// An IPAM result (one IPv4 address, its gateway, a default route), rendered in a CNI version.
public struct IPAMResult: Sendable, Hashable {
    public var address: IPv4Address
    public var prefixLength: Int
    public var gateway: IPv4Address

    public init(address: IPv4Address, prefixLength: Int, gateway: IPv4Address) {
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
    }

    /// 0.3.x and 0.4.0 tag each address with `"version": "4"`; 1.x dropped the field.
    public func json(cniVersion: String) -> String {
        let legacy = !CNIVersion.atLeast(cniVersion, "1.0.0")
        let ip = "{\"address\":\"\(address)/\(prefixLength)\",\"gateway\":\"\(gateway)\"\(legacy ? ",\"version\":\"4\"" : "")}"
        return "{\"cniVersion\":\"\(cniVersion)\",\"dns\":{},\"ips\":[\(ip)],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}"
    }
}
