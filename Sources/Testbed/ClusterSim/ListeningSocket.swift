import Foundation
import Netlink

/// A TCP socket bound and listening inside a network namespace, for a server of this process
/// (the API servers, the metadata service) to serve the simulated VPC from outside it.
enum ListeningSocket {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func open(namespacePath: String, address: String, port: UInt16) throws -> CInt {
        try NetworkNamespace.run(path: namespacePath) { () throws -> CInt in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
            var one: CInt = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            inet_pton(AF_INET, address, &sin.sin_addr)
            let bound = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0, listen(fd, 128) == 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw Failure(description: "bind \(address):\(port): \(reason)")
            }
            return fd
        }
    }
}
