import Foundation
import Logging
import VPCNetCore

/// One daemon per node: an exclusive `flock` on `STATE-DIR/daemon.lock`, held for the life of
/// the process (the kernel releases it however the process ends, SIGKILL included).
///
/// It is what lets the DaemonSet roll with `maxSurge: 1`: the new daemon starts beside the old
/// one and waits here, having touched nothing (no socket, no port, no kernel state), while the
/// old one keeps serving; the old one is stopped once the new pod is ready, and the new one takes
/// over within moments. The plugin rides over that moment by retrying its connection briefly.
public final class DaemonLock: Sendable {
    public let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// The lock is held by another daemon, or cannot be taken at all (the text says which).
    public struct Held: Error, CustomStringConvertible {
        public var description: String
    }

    /// Takes the lock, waiting (polling, so the wait never blocks a thread of the concurrency pool)
    /// while another daemon holds it; with `wait` false, throws ``Held`` instead.
    public static func acquire(stateDirectory: String, wait: Bool = true, logger: Logger) async throws -> DaemonLock {
        try AtomicFile.requirePrivateDirectory(stateDirectory)
        let path = stateDirectory + "/daemon.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Held(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        var announced = false
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                close(descriptor)
                throw Held(description: "cannot lock \(path): \(String(cString: strerror(code)))")
            }
            let holder = (try? AtomicFile.read(path)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? "?"
            guard wait else {
                close(descriptor)
                throw Held(description: "another vpcnet-daemon (pid \(holder.trimmingCharacters(in: .whitespacesAndNewlines))) holds \(path); stop it first")
            }
            if !announced {
                logger.notice("another daemon runs on this node; waiting for it to exit before touching anything",
                              metadata: ["lock": "\(path)", "holder pid": "\(holder.trimmingCharacters(in: .whitespacesAndNewlines))"])
                announced = true
            }
            do { try await Task.sleep(for: .milliseconds(100)) } catch {
                close(descriptor)
                throw error
            }
        }
        // Who holds it, for the next one's log line (advisory: the lock is the flock, not the text).
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) } }
        if announced { logger.notice("the previous daemon exited; taking over") }
        return DaemonLock(path: path, descriptor: descriptor)
    }

    deinit { close(descriptor) }
}
