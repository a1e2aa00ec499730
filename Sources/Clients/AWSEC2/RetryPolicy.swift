import Synchronization

/// The retry behaviour of the AWS SDKs' "standard" retry mode.
///
/// - At most `maxAttempts` attempts per call (first try included).
/// - Backoff before retry *i* (1-based) is full jitter: `random(0 ..< min(maxBackoff, base × 2^(i−1)))`.
/// - A retry quota per client stops retry storms when the service is unhealthy: each retry
///   costs `retryCost` (`timeoutRetryCost` after a timeout or transport error); a success after
///   retries refunds that cost, a first-try success refunds one token. When the quota cannot pay
///   for a retry, the call fails with its last error at once.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseBackoff: Duration
    public var maxBackoff: Duration
    public var quotaCapacity: Int
    public var retryCost: Int
    public var timeoutRetryCost: Int

    public init(maxAttempts: Int = 3, baseBackoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(20),
                quotaCapacity: Int = 500, retryCost: Int = 5, timeoutRetryCost: Int = 10) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseBackoff = baseBackoff
        self.maxBackoff = maxBackoff
        self.quotaCapacity = quotaCapacity
        self.retryCost = retryCost
        self.timeoutRetryCost = timeoutRetryCost
    }

    /// The delay before retry number `retry` (1 for the first retry).
    public func backoff(beforeRetry retry: Int) -> Duration {
        let exponent = min(max(0, retry - 1), 30)
        let ceiling = min(maxBackoff, baseBackoff * (1 << exponent))
        let nanos = ceiling.nanoseconds
        guard nanos > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0..<nanos))
    }

    func cost(of error: EC2Error) -> Int {
        switch error {
        case .timeout, .transport: timeoutRetryCost
        default: retryCost
        }
    }
}

/// The token pool of the standard retry mode, shared by every call of one client.
public final class RetryQuota: Sendable {
    private let tokens: Mutex<Int>
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
        tokens = Mutex(capacity)
    }

    public var available: Int { tokens.withLock { $0 } }

    /// Takes `cost` tokens if there are enough; `false` means: do not retry.
    func acquire(_ cost: Int) -> Bool {
        tokens.withLock { value in
            guard value >= cost else { return false }
            value -= cost
            return true
        }
    }

    func release(_ amount: Int) {
        tokens.withLock { $0 = min(capacity, $0 + amount) }
    }
}
