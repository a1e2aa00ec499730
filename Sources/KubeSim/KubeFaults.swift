import Synchronization

/// Faults the Kubernetes API simulator injects for tests, consumed in order per (verb, resource);
/// `*` matches any verb or resource. Verbs: get, list, watch, create, update, patch, delete.
public final class KubeFaults: Sendable {
    public enum Fault: Sendable, Hashable {
        /// Answer with this status (409 Conflict, 429 TooManyRequests, 500 InternalError, …).
        case status(code: Int)
        /// Wait, then serve the request normally.
        case delay(Duration)
    }

    private let queue = Mutex<[String: [Fault]]>([:])

    public init() {}

    /// Queues `count` (at most 10 000) faults.
    public func inject(_ fault: Fault, verb: String = "*", resource: String = "*", count: Int = 1) {
        queue.withLock { $0["\(verb) \(resource)", default: []] += Array(repeating: fault, count: min(max(0, count), 10_000)) }
    }

    public func clear() { queue.withLock { $0 = [:] } }

    func next(verb: String, resource: String) -> Fault? {
        queue.withLock { q in
            for key in ["\(verb) \(resource)", "\(verb) *", "* \(resource)", "* *"] where !(q[key]?.isEmpty ?? true) {
                return q[key]!.removeFirst()
            }
            return nil
        }
    }

    static func error(for code: Int) -> KubeStatusError {
        switch code {
        case 409: KubeStatusError(code: 409, reason: "Conflict", message: "injected conflict: the object has been modified; please apply your changes to the latest version and try again")
        case 429: KubeStatusError(code: 429, reason: "TooManyRequests", message: "injected: too many requests, please try again later")
        case 500: KubeStatusError(code: 500, reason: "InternalError", message: "injected internal error")
        case 503: KubeStatusError(code: 503, reason: "ServiceUnavailable", message: "injected: service unavailable")
        default: KubeStatusError(code: code, reason: "Unknown", message: "injected error \(code)")
        }
    }
}
