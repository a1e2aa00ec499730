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
    private let servedCount = Mutex(0)

    /// How many injected faults requests have met so far.
    public var served: Int { servedCount.withLock { $0 } }

    public init() {}

    /// Queues `count` (at most 10 000) faults.
    public func inject(_ fault: Fault, verb: String = "*", resource: String = "*", count: Int = 1) {
        queue.withLock { $0["\(verb) \(resource)", default: []] += Array(repeating: fault, count: min(max(0, count), 10_000)) }
    }

    public func clear() { queue.withLock { $0 = [:] } }

    func next(verb: String, resource: String) -> Fault? {
        queue.withLock { q in
            for key in ["\(verb) \(resource)", "\(verb) *", "* \(resource)", "* *"] where !(q[key]?.isEmpty ?? true) {
                servedCount.withLock { $0 += 1 }
                return q[key]!.removeFirst()
            }
            return nil
        }
    }

    /// The error the API server would send with this code, with its reason.
    static func error(for code: Int) -> KubeStatusError {
        let reasons = [400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 410: "Expired", 422: "Invalid",
                       429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"]
        return KubeStatusError(code: code, reason: reasons[code] ?? "Unknown", message: "injected fault \(code)")
    }
}
