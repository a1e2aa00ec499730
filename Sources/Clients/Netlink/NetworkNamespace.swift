import CNetlink
import Foundation
import Synchronization

/// Work done inside another network namespace.
///
/// Namespaces belong to threads, and Swift's concurrency pool must never see a thread whose
/// namespace was changed: the work runs on a short-lived thread of its own that enters the
/// namespace first and ends right after. Whatever that thread opens (netlink sockets, files under
/// `/proc/sys/net`) stays bound to the namespace afterwards, from any thread.
public enum NetworkNamespace {
    public struct EnterError: Error, CustomStringConvertible {
        public var path: String
        public var errno: Int32
        public var description: String { "cannot enter the network namespace \(path): \(String(cString: strerror(errno)))" }
    }

    /// Runs `body` in the namespace at `path` (e.g. `/var/run/netns/NAME`, `/proc/PID/ns/net`), or
    /// in the caller's own when `path` is nil. Blocks the caller for as long as `body` runs: keep
    /// it to microseconds (a socket open, a few small file reads).
    public static func run<T: Sendable>(path: String?, _ body: @escaping @Sendable () throws -> T) throws -> T {
        guard let path else { return try body() }
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EnterError(path: path, errno: errno) }
        defer { close(fd) }
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            defer { done.signal() }
            guard vpcnet_enter_network_namespace(fd) == 0 else {
                let error = EnterError(path: path, errno: errno)
                result.withLock { $0 = .failure(error) }
                return
            }
            let outcome = Result { try body() }
            result.withLock { $0 = outcome }
        }.start()
        done.wait()
        return try result.withLock { $0! }.get()
    }
}
