import CNetlink
import VPCNetCore

/// A network interface as the kernel reports it.
public struct Link: Hashable, Sendable {
    public var index: Int32
    public var name: String
    public var macAddress: MACAddress?
    public var mtu: UInt32
    public var isUp: Bool

    public init(index: Int32, name: String, macAddress: MACAddress?, mtu: UInt32, isUp: Bool) {
        self.index = index
        self.name = name
        self.macAddress = macAddress
        self.mtu = mtu
        self.isUp = isUp
    }
}

/// An address on an interface: the address itself and its prefix (`10.0.1.5/24`), unlike a CIDR.
public struct InterfaceAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var prefixLength: Int
    public init(_ address: IPv4Address, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }
    public var description: String { "\(address)/\(prefixLength)" }
}

extension RouteSocket {
    public func links() throws(NetlinkError) -> [Link] {
        try dump("links", fill: { rtnl_link_alloc_cache($0, AF_UNSPEC, $1) }) { object in
            let link = object
            var mac: MACAddress?
            if let address = rtnl_link_get_addr(link), nl_addr_get_len(address) == 6, let bytes = nl_addr_get_binary_addr(address) {
                mac = MACAddress(bytes: Array(UnsafeRawBufferPointer(start: bytes, count: 6)))
            }
            return Link(index: rtnl_link_get_ifindex(link), name: rtnl_link_get_name(link).map { String(cString: $0) } ?? "",
                        macAddress: mac, mtu: rtnl_link_get_mtu(link), isUp: rtnl_link_get_flags(link) & UInt32(IFF_UP) != 0)
        }
    }

    /// Sets the MTU and the administrative state (each only when given).
    public func setLink(index: Int32, mtu: UInt32? = nil, up: Bool? = nil) throws(NetlinkError) {
        try with { socket throws(NetlinkError) in
            guard let original = rtnl_link_alloc(), let change = rtnl_link_alloc() else { throw NetlinkError("rtnl_link_alloc", -NLE_NOMEM) }
            defer { rtnl_link_put(original); rtnl_link_put(change) }
            rtnl_link_set_ifindex(original, index)
            if let mtu { rtnl_link_set_mtu(change, mtu) }
            switch up {
            case true?: rtnl_link_set_flags(change, UInt32(IFF_UP))
            case false?: rtnl_link_unset_flags(change, UInt32(IFF_UP))
            case nil: break
            }
            try Self.check("change link \(index)", rtnl_link_change(socket, original, change, 0))
        }
    }

    /// IPv4 addresses per interface index.
    public func addresses() throws(NetlinkError) -> [(index: Int32, address: InterfaceAddress)] {
        try dump("addresses", fill: { rtnl_addr_alloc_cache($0, $1) }) { object in
            guard rtnl_addr_get_family(object) == AF_INET, let local = IPv4Address(nlAddress: rtnl_addr_get_local(object)) else { return nil }
            return (rtnl_addr_get_ifindex(object), InterfaceAddress(local, prefixLength: Int(rtnl_addr_get_prefixlen(object))))
        }
    }

    public func addAddress(_ address: InterfaceAddress, index: Int32) throws(NetlinkError) {
        try changeAddress(address, index: index, add: true)
    }

    public func deleteAddress(_ address: InterfaceAddress, index: Int32) throws(NetlinkError) {
        try changeAddress(address, index: index, add: false)
    }

    private func changeAddress(_ address: InterfaceAddress, index: Int32, add: Bool) throws(NetlinkError) {
        try with { socket throws(NetlinkError) in
            guard let object = rtnl_addr_alloc(), let local = address.address.nlAddress(prefixLength: address.prefixLength) else {
                throw NetlinkError("rtnl_addr_alloc", -NLE_NOMEM)
            }
            defer { rtnl_addr_put(object); nl_addr_put(local) }
            rtnl_addr_set_ifindex(object, index)
            try Self.check("set local \(address)", rtnl_addr_set_local(object, local))
            rtnl_addr_set_prefixlen(object, Int32(address.prefixLength))
            let result = add ? rtnl_addr_add(socket, object, 0) : rtnl_addr_delete(socket, object, 0)
            try Self.check("\(add ? "add" : "delete") address \(address) on \(index)", result)
        }
    }
}
