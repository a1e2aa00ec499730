import CNetlink
import VPCNetCore

/// An IPv4 route with at most one next hop: what vpcnet installs.
public struct Route: Hashable, Sendable, CustomStringConvertible {
    public enum Scope: UInt8, Sendable { case universe = 0, link = 253, host = 254 }

    public var table: UInt32
    public var destination: IPv4CIDR
    public var gateway: IPv4Address?
    public var interfaceIndex: Int32?
    public var scope: Scope
    /// The gateway is reachable on the link even though no address of the link covers it.
    public var onLink: Bool
    /// The routing protocol number: vpcnet marks its routes, so it finds (and removes) only its own.
    public var protocolNumber: UInt8

    public init(table: UInt32, destination: IPv4CIDR, gateway: IPv4Address? = nil, interfaceIndex: Int32? = nil,
                scope: Scope = .universe, onLink: Bool = false, protocolNumber: UInt8 = RTPROT_STATIC_U8) {
        self.table = table
        self.destination = destination
        self.gateway = gateway
        self.interfaceIndex = interfaceIndex
        self.scope = scope
        self.onLink = onLink
        self.protocolNumber = protocolNumber
    }

    public var description: String {
        var text = "\(destination)"
        if let gateway { text += " via \(gateway)" }
        if let interfaceIndex { text += " dev #\(interfaceIndex)" }
        if onLink { text += " onlink" }
        return text + " table \(table) proto \(protocolNumber)"
    }
}

/// `RTPROT_STATIC` as the UInt8 libnl takes.
public let RTPROT_STATIC_U8 = UInt8(RTPROT_STATIC)

extension RouteSocket {
    /// Unicast IPv4 routes of every table.
    public func routes() throws(NetlinkError) -> [Route] {
        try dump("routes", fill: { rtnl_route_alloc_cache($0, AF_INET, 0, $1) }) { route in
            guard rtnl_route_get_type(route) == UInt8(RTN_UNICAST), let destination = IPv4CIDR(nlAddress: rtnl_route_get_dst(route)) else {
                return nil
            }
            var gateway: IPv4Address?, index: Int32?, onLink = false
            if rtnl_route_get_nnexthops(route) >= 1, let hop = rtnl_route_nexthop_n(route, 0) {
                gateway = IPv4Address(nlAddress: rtnl_route_nh_get_gateway(hop))
                index = rtnl_route_nh_get_ifindex(hop)
                onLink = rtnl_route_nh_get_flags(hop) & UInt32(RTNH_F_ONLINK) != 0
            }
            return Route(table: rtnl_route_get_table(route), destination: destination, gateway: gateway, interfaceIndex: index,
                         scope: Route.Scope(rawValue: rtnl_route_get_scope(route)) ?? .universe, onLink: onLink,
                         protocolNumber: rtnl_route_get_protocol(route))
        }
    }

    /// Adds (or, with `replace`, adds or replaces) a route.
    public func addRoute(_ route: Route, replace: Bool = true) throws(NetlinkError) {
        try changeRoute(route, add: true, flags: replace ? Int32(NLM_F_REPLACE) : Int32(NLM_F_EXCL))
    }

    public func deleteRoute(_ route: Route) throws(NetlinkError) {
        try changeRoute(route, add: false, flags: 0)
    }

    private func changeRoute(_ route: Route, add: Bool, flags: Int32) throws(NetlinkError) {
        try with { socket throws(NetlinkError) in
            guard let object = rtnl_route_alloc(), let destination = route.destination.nlAddress() else {
                throw NetlinkError("rtnl_route_alloc", -NLE_NOMEM)
            }
            defer { rtnl_route_put(object); nl_addr_put(destination) }
            rtnl_route_set_family(object, UInt8(AF_INET))
            rtnl_route_set_table(object, route.table)
            try Self.check("set destination \(route.destination)", rtnl_route_set_dst(object, destination))
            rtnl_route_set_scope(object, route.scope.rawValue)
            rtnl_route_set_protocol(object, route.protocolNumber)
            rtnl_route_set_type(object, UInt8(RTN_UNICAST))
            if route.gateway != nil || route.interfaceIndex != nil {
                guard let hop = rtnl_route_nh_alloc() else { throw NetlinkError("rtnl_route_nh_alloc", -NLE_NOMEM) }
                if let index = route.interfaceIndex { rtnl_route_nh_set_ifindex(hop, index) }
                if let gateway = route.gateway, let address = gateway.nlAddress() {
                    rtnl_route_nh_set_gateway(hop, address)
                    nl_addr_put(address)
                }
                if route.onLink { rtnl_route_nh_set_flags(hop, UInt32(RTNH_F_ONLINK)) }
                rtnl_route_add_nexthop(object, hop)  // the route owns the hop from here
            }
            let result = add ? rtnl_route_add(socket, object, flags) : rtnl_route_delete(socket, object, 0)
            try Self.check("\(add ? "add" : "delete") route \(route)", result)
        }
    }
}
