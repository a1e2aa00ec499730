/// Capped exponential backoff with jitter: attempt n waits a random time in [d/2, d], d = min(cap, base·2ⁿ⁻¹).
public struct Backoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration, cap: Duration) {
        self.base = base
        self.cap = cap
    }

    /// The ceiling for the `attempt`th retry (1-based), before jitter.
    public func ceiling(attempt: Int) -> Duration {
        let doublings = min(max(attempt - 1, 0), 62)
        let scaled = base * Double(UInt64(1) << UInt64(doublings))
        return min(scaled, cap)
    }

    public func delay(attempt: Int) -> Duration { ceiling(attempt: attempt) * Double.random(in: 0.5...1.0) }
}
