import CNetlink
import Foundation
import Synchronization
import VPCNetCore

/// A failed netlink operation, with libnl's message.
public struct NetlinkError: Error, Sendable, Hashable, CustomStringConvertible {
    public var operation: String
    /// libnl's (positive) error code, e.g. `NLE_EXIST`.
    public var code: Int32
    public var message: String

    init(_ operation: String, _ result: Int32) {
        self.operation = operation
        code = -result
        message = String(cString: nl_geterror(result))
    }

    public var isExists: Bool { code == NLE_EXIST }
    public var isNotFound: Bool { code == NLE_OBJ_NOTFOUND || code == NLE_NOADDR || code == NLE_NODEV }
    public var description: String { "\(operation): \(message)" }
}

/// An `rtnetlink` socket (libnl-route-3), bound to one network namespace for its whole life.
///
/// A netlink socket belongs to the namespace its creating thread was in, so a socket for another
/// namespace is opened through ``NetworkNamespace/run(path:_:)``; afterwards it may be used from
/// any thread. libnl sockets are not thread-safe: calls are serialised here.
/// This is a thin, hand-written layer over libnl: only the objects vpcnet configures.
public final class RouteSocket: @unchecked Sendable {
    private let socket: OpaquePointer
    private let lock = Mutex<Void>(())

    /// Opens a socket in the caller's namespace, or in the namespace at `namespacePath`
    /// (e.g. `/var/run/netns/NAME` or `/proc/PID/ns/net`).
    public init(namespacePath: String? = nil) throws {
        // The socket crosses threads as its address (an OpaquePointer is not Sendable).
        let address = try NetworkNamespace.run(path: namespacePath) { () throws(NetlinkError) -> Int in Int(bitPattern: try Self.open()) }
        guard let opened = OpaquePointer(bitPattern: address) else { throw NetlinkError("open", -NLE_FAILURE) }
        socket = opened
    }

    private static func open() throws(NetlinkError) -> OpaquePointer {
        guard let socket = nl_socket_alloc() else { throw NetlinkError("nl_socket_alloc", -NLE_NOMEM) }
        let result = nl_connect(socket, NETLINK_ROUTE)
        guard result == 0 else {
            nl_socket_free(socket)
            throw NetlinkError("nl_connect", result)
        }
        return socket
    }

    deinit { nl_socket_free(socket) }

    /// Runs `body` with the socket, one caller at a time.
    func with<T>(_ body: (OpaquePointer) throws(NetlinkError) -> T) throws(NetlinkError) -> T {
        try lock.withLock { _ throws(NetlinkError) in try body(socket) }
    }

    /// Every object of a cache filled by `fill`, mapped by `read`.
    func dump<T>(_ what: String, fill: (OpaquePointer, UnsafeMutablePointer<OpaquePointer?>) -> Int32,
                 read: (OpaquePointer) -> T?) throws(NetlinkError) -> [T] {
        try with { socket throws(NetlinkError) in
            var cache: OpaquePointer?
            let result = fill(socket, &cache)
            guard result == 0, let cache else { throw NetlinkError("dump \(what)", result) }
            defer { nl_cache_free(cache) }
            var items: [T] = []
            var object = nl_cache_get_first(cache)
            while let current = object {
                if let item = read(current) { items.append(item) }
                object = nl_cache_get_next(current)
            }
            return items
        }
    }

    static func check(_ operation: @autoclosure () -> String, _ result: Int32) throws(NetlinkError) {
        guard result >= 0 else { throw NetlinkError(operation(), result) }
    }
}

// MARK: - Addresses in libnl's form

extension IPv4Address {
    /// A new `nl_addr` (owned by the caller: `nl_addr_put`).
    func nlAddress(prefixLength: Int = 32) -> OpaquePointer? {
        var bytes = rawValue.bigEndian
        let address = withUnsafeBytes(of: &bytes) { nl_addr_build(AF_INET, $0.baseAddress, 4) }
        if let address { nl_addr_set_prefixlen(address, Int32(prefixLength)) }
        return address
    }

    init?(nlAddress address: OpaquePointer?) {
        guard let address, nl_addr_get_family(address) == AF_INET, nl_addr_get_len(address) == 4,
              let bytes = nl_addr_get_binary_addr(address) else { return nil }
        self.init(rawValue: UInt32(bigEndian: bytes.load(as: UInt32.self)))
    }
}

extension IPv4CIDR {
    func nlAddress() -> OpaquePointer? { network.nlAddress(prefixLength: prefixLength) }

    /// libnl reports a default route's destination as an empty address with prefix 0.
    init?(nlAddress address: OpaquePointer?) {
        guard let address else { return nil }
        let prefix = Int(nl_addr_get_prefixlen(address))
        if prefix == 0, nl_addr_get_len(address) == 0 || nl_addr_iszero(address) != 0 {
            self.init(containing: IPv4Address(rawValue: 0), prefixLength: 0)
            return
        }
        guard let base = IPv4Address(nlAddress: address) else { return nil }
        self.init(containing: base, prefixLength: prefix)
    }
}
