/// A client-side token bucket per EC2 action, shared by every caller in the process, so a burst of
/// work waits its turn here instead of being throttled (and retried) by EC2.
///
/// EC2 evaluates each API action against its own bucket (capacity, refill per second). The
/// defaults are EC2's documented figures (``EC2RequestLimits``); lower them when other tools in
/// the account spend the same budget.
public actor RateBudget {
    public typealias Bucket = EC2RequestLimits.Bucket

    public struct Configuration: Sendable {
        /// Actions without an override and without a documented bucket of their own.
        public var nonMutating: Bucket
        public var mutating: Bucket
        /// Per-action overrides by action name (e.g. "CreateNetworkInterface").
        public var overrides: [String: Bucket]

        public init(nonMutating: Bucket = EC2RequestLimits.nonMutating, mutating: Bucket = EC2RequestLimits.mutating,
                    overrides: [String: Bucket] = EC2RequestLimits.actions) {
            self.nonMutating = nonMutating
            self.mutating = mutating
            self.overrides = overrides
        }

        func bucket(for action: String) -> Bucket {
            if let bucket = overrides[action] { return bucket }
            return action.hasPrefix("Describe") ? nonMutating : mutating
        }
    }

    /// The budget every EC2 client in this process shares unless given its own.
    public static let shared = RateBudget()

    private struct State {
        var tokens: Double
        var updated: Duration
    }

    public let configuration: Configuration
    private var states: [String: State] = [:]
    private let now: @Sendable () -> Duration
    private let sleep: @Sendable (Duration) async throws -> Void
    /// The origin of the default monotonic time.
    public static let epoch = ContinuousClock.now

    /// - Parameters:
    ///   - now: monotonic time; `sleep`: waits. Both are injectable so tests run on a manual clock.
    public init(configuration: Configuration = Configuration(),
                now: @escaping @Sendable () -> Duration = { ContinuousClock.now - RateBudget.epoch },
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.configuration = configuration
        self.now = now
        self.sleep = sleep
    }

    /// Waits until `action` may send one request, then takes its token. Callers are served in the
    /// order they reserve: each reservation is booked immediately (tokens may go negative) and the
    /// caller sleeps until its booked token has been refilled. Returns how long it waited.
    @discardableResult
    public func acquire(_ action: String) async throws -> Duration {
        let bucket = configuration.bucket(for: action)
        let time = now()
        var state = states[action] ?? State(tokens: bucket.capacity, updated: time)
        state.tokens = min(bucket.capacity, state.tokens + (time - state.updated).seconds * bucket.refillPerSecond)
        state.updated = time
        state.tokens -= 1
        states[action] = state
        guard state.tokens < 0 else { return .zero }
        let wait = Duration.nanoseconds(Int64((-state.tokens / bucket.refillPerSecond) * 1e9))
        do {
            try await sleep(wait)
        } catch {
            // Cancelled while queued: give the reservation back so later callers are not delayed.
            states[action]?.tokens += 1
            throw error
        }
        return wait
    }

    /// Tokens currently available for `action` (negative while callers are queued).
    public func available(_ action: String) -> Double {
        let bucket = configuration.bucket(for: action)
        guard let state = states[action] else { return bucket.capacity }
        return min(bucket.capacity, state.tokens + (now() - state.updated).seconds * bucket.refillPerSecond)
    }
}
