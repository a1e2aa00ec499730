import Synchronization
import VPCNetCore

/// EC2's request-rate limiting, server side: a token bucket per action; an empty bucket answers
/// `RequestLimitExceeded` (HTTP 503) instead of waiting.
public final class SimThrottle: Sendable {
    public struct Bucket: Sendable, Hashable, Codable {
        public var capacity: Double
        public var refillPerSecond: Double
        public init(capacity: Double, refillPerSecond: Double) {
            self.capacity = capacity
            self.refillPerSecond = refillPerSecond
        }
    }

    struct State {
        var enabled: Bool
        var nonMutating: Bucket
        var mutating: Bucket
        var overrides: [String: Bucket]
        var tokens: [String: (Double, ContinuousClock.Instant)] = [:]
    }

    private let state: Mutex<State>

    /// Defaults from the EC2 documentation ("Request throttling for the Amazon EC2 API"):
    /// non-mutating actions 100 tokens refilled at 20/s, mutating actions 200 at 5/s.
    public init(enabled: Bool = true, nonMutating: Bucket = Bucket(capacity: 100, refillPerSecond: 20),
                mutating: Bucket = Bucket(capacity: 200, refillPerSecond: 5)) {
        state = Mutex(State(enabled: enabled, nonMutating: nonMutating, mutating: mutating, overrides: [:]))
    }

    public func configure(enabled: Bool? = nil, action: String? = nil, bucket: Bucket? = nil) {
        state.withLock { s in
            if let enabled { s.enabled = enabled }
            if let bucket {
                if let action { s.overrides[action] = bucket; s.tokens[action] = nil } else { s.nonMutating = bucket; s.mutating = bucket; s.tokens = [:] }
            }
        }
    }

    /// Takes a token for `action`; false means throttled.
    func admit(_ action: String) -> Bool {
        state.withLock { s in
            guard s.enabled else { return true }
            let bucket = s.overrides[action] ?? (action.hasPrefix("Describe") ? s.nonMutating : s.mutating)
            let now = ContinuousClock.now
            var (tokens, updated) = s.tokens[action] ?? (bucket.capacity, now)
            let elapsed = now - updated
            tokens = min(bucket.capacity, tokens + elapsed.seconds * bucket.refillPerSecond)
            updated = now
            let admitted = tokens >= 1
            if admitted { tokens -= 1 }
            s.tokens[action] = (tokens, updated)
            return admitted
        }
    }
}
