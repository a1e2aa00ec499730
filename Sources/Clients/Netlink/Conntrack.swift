import CNetlink
import VPCNetCore

/// The kernel's connection tracking table through libnl-nf-3 (ctnetlink), in one network namespace.
public enum Conntrack {
    /// Deletes every entry whose original or reply direction has one of `addresses` as source or
    /// destination: what released pod addresses leave behind (a new pod with the address must
    /// not inherit its predecessor's NAT mappings or half-open flows). Returns how many went.
    ///
    /// One call is one dump of the whole table, and a dump walks every hash bucket (262,144 on a
    /// default kernel: milliseconds of CPU even when the table is empty), so callers gather
    /// addresses into one call rather than making one call per address.
    public static func deleteEntries(involving addresses: Set<IPv4Address>, namespacePath: String? = nil) throws -> Int {
        guard !addresses.isEmpty else { return 0 }
        return try NetworkNamespace.run(path: namespacePath) { () throws(NetlinkError) -> Int in
            guard let socket = nl_socket_alloc() else { throw NetlinkError("nl_socket_alloc", -NLE_NOMEM) }
            defer { nl_socket_free(socket) }
            try RouteSocket.check("connect to ctnetlink", nl_connect(socket, NETLINK_NETFILTER))
            var cache: OpaquePointer?
            try RouteSocket.check("dump conntrack", nfnl_ct_alloc_cache(socket, &cache))
            guard let cache else { return 0 }
            defer { nl_cache_free(cache) }
            var deleted = 0
            var object = nl_cache_get_first(cache)
            while let entry = object {
                object = nl_cache_get_next(entry)
                guard nfnl_ct_get_family(entry) == UInt8(AF_INET) else { continue }
                let ends = [nfnl_ct_get_src(entry, 0), nfnl_ct_get_dst(entry, 0), nfnl_ct_get_src(entry, 1), nfnl_ct_get_dst(entry, 1)]
                guard ends.contains(where: { IPv4Address(nlAddress: $0).map(addresses.contains) == true }) else { continue }
                let result = nfnl_ct_del(socket, entry, 0)
                // Gone already (it expired meanwhile) is as good as deleted.
                if result >= 0 || -result == NLE_OBJ_NOTFOUND { deleted += 1 } else { try RouteSocket.check("delete a conntrack entry", result) }
            }
            return deleted
        }
    }
}
