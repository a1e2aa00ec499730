import AWSEC2
import Synchronization
import VPCNetCore

/// EC2's request-rate limiting, server side: a token bucket per action; an empty bucket answers
/// `RequestLimitExceeded` (HTTP 503) instead of waiting.
public final class SimThrottle: Sendable {
    public typealias Bucket = EC2RequestLimits.Bucket

    struct State {
        var enabled: Bool
        var nonMutating: Bucket
        var mutating: Bucket
        var overrides: [String: Bucket]
        var tokens: [String: (Double, ContinuousClock.Instant)] = [:]
    }

    private let state: Mutex<State>

    /// Defaults: EC2's documented buckets (``EC2RequestLimits``).
    public init(enabled: Bool = true, nonMutating: Bucket = EC2RequestLimits.nonMutating,
                mutating: Bucket = EC2RequestLimits.mutating, overrides: [String: Bucket] = EC2RequestLimits.actions) {
        state = Mutex(State(enabled: enabled, nonMutating: nonMutating, mutating: mutating, overrides: overrides))
    }

    /// The buckets in force: the two defaults and the actions with their own.
    public var buckets: (nonMutating: Bucket, mutating: Bucket, actions: [String: Bucket]) {
        state.withLock { ($0.nonMutating, $0.mutating, $0.overrides) }
    }

    /// The bucket `action` is evaluated against.
    public func bucket(for action: String) -> Bucket {
        state.withLock { s in s.overrides[action] ?? (action.hasPrefix("Describe") ? s.nonMutating : s.mutating) }
    }

    public func configure(enabled: Bool? = nil, action: String? = nil, bucket: Bucket? = nil) {
        state.withLock { s in
            if let enabled { s.enabled = enabled }
            if let bucket {
                if let action {
                    s.overrides[action] = bucket
                    s.tokens[action] = nil
                } else {
                    (s.nonMutating, s.mutating, s.overrides, s.tokens) = (bucket, bucket, [:], [:])
                }
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
