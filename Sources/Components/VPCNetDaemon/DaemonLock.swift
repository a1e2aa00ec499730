import Foundation
import Logging
import Synchronization
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
    private let descriptor: Mutex<Int32?>

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = Mutex(descriptor)
    }

    /// Lets a successor in at once: called when the daemon has stopped serving and touching the
    /// node, before the rest of its shutdown (closing its API connections), which is none of the
    /// node's business. Idempotent.
    public func release() {
        descriptor.withLock { descriptor in
            if let fd = descriptor { close(fd) }
            descriptor = nil
        }
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
        var announced = false
        while true {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw Held(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
                // The file we locked must still be the one at the path: a lock on a file someone
                // unlinked (uninstall) would let the next daemon lock a new one beside us.
                var held = stat(), current = stat()
                if fstat(descriptor, &held) == 0, stat(path, &current) == 0, held.st_dev == current.st_dev, held.st_ino == current.st_ino {
                    // Who holds it, for a waiting successor's log line (the flock is the lock, not the text).
                    let holder = Array("\(ProcessInfo.processInfo.environment["POD_NAME"] ?? ProcessInfo.processInfo.hostName) pid \(getpid())\n".utf8)
                    if ftruncate(descriptor, 0) == 0 { _ = holder.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) } }
                    if announced { logger.notice("the previous daemon exited; taking over") }
                    return DaemonLock(path: path, descriptor: descriptor)
                }
                close(descriptor)
                continue
            }
            let code = errno
            close(descriptor)
            guard code == EWOULDBLOCK || code == EINTR else { throw Held(description: "cannot lock \(path): \(String(cString: strerror(code)))") }
            if !wait || !announced {
                let holder = (try? AtomicFile.read(path)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) }?
                    .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
                guard wait else { throw Held(description: "another vpcnet-daemon (\(holder)) holds \(path); stop it first") }
                logger.notice("another daemon runs on this node; waiting for it to exit before touching anything",
                              metadata: ["lock": "\(path)", "holder": "\(holder)"])
                announced = true
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    deinit { release() }
}
