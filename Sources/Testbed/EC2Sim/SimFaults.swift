import Synchronization
import VPCNetCore

/// Injected faults, consumed in order per action (`*` matches any action).
public final class SimFaults: Sendable {
    public enum Fault: Sendable, Hashable {
        case error(code: String, status: Int, message: String)
        case delay(Duration)
        /// Close the connection without answering, before the action runs.
        case drop
        /// Run the action, then close the connection without answering: the response is lost
        /// although EC2 made the change (what idempotency tokens exist for).
        case dropResponse
    }

    private let queue = Mutex<[String: [Fault]]>([:])

    public init() {}

    /// Queues `count` (at most 10 000) faults for `action`, or for any action with `"*"`.
    public func inject(_ fault: Fault, action: String, count: Int = 1) {
        queue.withLock { $0[action, default: []] += Array(repeating: fault, count: min(max(0, count), 10_000)) }
    }

    public func clear() { queue.withLock { $0 = [:] } }

    func next(_ action: String) -> Fault? {
        queue.withLock { q in
            for key in [action, "*"] where !(q[key]?.isEmpty ?? true) { return q[key]!.removeFirst() }
            return nil
        }
    }
}

/// Per-action latency: a fixed part plus uniform jitter.
public struct SimLatency: Sendable, Hashable {
    public var fixed: Duration
    public var jitter: Duration
    public init(fixed: Duration = .zero, jitter: Duration = .zero) {
        self.fixed = fixed
        self.jitter = jitter
    }

    func sample() -> Duration {
        let jitterNanos = jitter.nanoseconds
        return fixed + .nanoseconds(jitterNanos > 0 ? Int64.random(in: 0...jitterNanos) : 0)
    }
}
