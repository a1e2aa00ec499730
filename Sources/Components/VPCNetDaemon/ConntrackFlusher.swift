import Dispatch
import Logging
import Synchronization
import VPCNetCore

/// Flushes the conntrack entries that released pod addresses leave behind, many releases to one
/// flush.
///
/// A flush is a dump of the whole table, and the kernel walks every hash bucket for it (about
/// 10 ms of CPU on these machines with an empty table): one per DEL cost more CPU than the rest of
/// the DEL together, on the node's cores, while the runtime was still tearing the pod down. A
/// released address cools down before it is handed out again (150 s by default), so gathering
/// the releases of `window` (kept under the cooldown) into one flush still clears every entry
/// before the address has a new owner.
///
/// Flushes run on a serial queue of their own: they block a thread (namespace switch, netlink)
/// and never delay the answer to DEL.
final class ConntrackFlusher: Sendable {
    private struct State {
        var pending: Set<IPv4Address> = []
        var scheduled = false
    }
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "vpcnet.conntrack-flush")
    private let window: Duration
    private let flush: @Sendable (Set<IPv4Address>) throws -> Int
    private let logger: Logger

    /// `flush` deletes the entries of the addresses it is given and returns how many went.
    init(window: Duration, logger: Logger, flush: @escaping @Sendable (Set<IPv4Address>) throws -> Int) {
        self.window = window
        self.flush = flush
        self.logger = logger
    }

    /// The window for a cooldown: a second, or half the cooldown when that is shorter (the flush
    /// must be done before the address can be handed out again).
    static func window(forCooldown cooldown: Duration) -> Duration {
        min(.seconds(1), cooldown / 2)
    }

    /// Adds a released address to the next flush, which runs at most `window` from now.
    func released(_ address: IPv4Address) {
        let schedule = state.withLock { state -> Bool in
            state.pending.insert(address)
            defer { state.scheduled = true }
            return !state.scheduled
        }
        guard schedule else { return }
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(window.nanoseconds))) { self.flushPending() }
    }

    /// Flushes what is pending now, on the caller's thread after any flush in progress (shutdown,
    /// tests).
    func flushNow() {
        queue.sync { flushPending() }
    }

    private func flushPending() {
        let batch = state.withLock { state -> Set<IPv4Address> in
            defer {
                state.pending = []
                state.scheduled = false
            }
            return state.pending
        }
        guard !batch.isEmpty else { return }
        do {
            let flushed = try flush(batch)
            if flushed > 0 { logger.debug("conntrack entries flushed", metadata: ["addresses": "\(batch.count)", "entries": "\(flushed)"]) }
        } catch {
            logger.warning("cannot flush conntrack entries", metadata: [
                "addresses": "\(batch.map(\.description).sorted().joined(separator: ","))", "error": "\(error)"])
        }
    }
}
