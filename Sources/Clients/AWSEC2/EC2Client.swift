import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Logging
import Metrics
import NIOCore

/// The HTTP connection pool shared by the EC2, STS and instance metadata clients of a process.
public final class AWSHTTPClient: Sendable {
    let client: HTTPClient
    let exchange: HTTPExchange

    /// - Parameters:
    ///   - connectTimeout: kept short: a failing TLS handshake is only reported when it expires.
    ///   - maxResponseBytes: the largest response body read before failing with `responseTooLarge`.
    ///   - connectionsPerHost: calls in flight to one endpoint. EC2 speaks HTTP/1.1, one call per
    ///     connection, and a call takes 0.1–0.8 s: async-http-client's default of 8 capped the
    ///     controller at about 16 calls a second, far under EC2's budget, and made a batch of
    ///     joining nodes queue here. The rate budget, not this, bounds the call rate.
    public init(connectTimeout: Duration = .seconds(3), maxResponseBytes: Int = 32 << 20, connectionsPerHost: Int = 64) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .nanoseconds(connectTimeout.nanoseconds)
        configuration.connectionPool = .init(idleTimeout: .seconds(50), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost)
        configuration.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        exchange = HTTPExchange(client: client, maxResponseBytes: maxResponseBytes)
    }

    public func shutdown() async throws { try await client.shutdown() }
}

/// A client of the EC2 Query API (`Version=2016-11-15`), signed with SigV4.
///
/// Every call takes a token from the process-wide ``RateBudget`` before each attempt, retries
/// throttling, 5xx, transport errors and timeouts per ``RetryPolicy`` (bounded attempts, full
/// jitter, shared retry quota), and reports to swift-metrics:
/// - `vpcnet_ec2_requests_total{action, outcome}` — one per call; outcome `success` or the error code/kind
/// - `vpcnet_ec2_attempts_total{action, outcome}` — one per HTTP attempt
/// - `vpcnet_ec2_retries_total{action, reason}`
/// - `vpcnet_ec2_request_duration_seconds{action}` — whole call, retries and waits included
/// - `vpcnet_ec2_rate_budget_wait_seconds{action}` — time queued in the client-side budget
public final class EC2Client: Sendable {
    public struct Configuration: Sendable {
        public var region: String
        public var endpoint: URL
        /// Bound on each attempt, connection included.
        public var requestTimeout: Duration
        public var retry: RetryPolicy
        public var apiVersion: String

        public init(region: String, endpoint: URL, requestTimeout: Duration = .seconds(20), retry: RetryPolicy = RetryPolicy(),
                    apiVersion: String = "2016-11-15") {
            self.region = region
            self.endpoint = endpoint
            self.requestTimeout = requestTimeout
            self.retry = retry
            self.apiVersion = apiVersion
        }
    }

    public let configuration: Configuration
    let credentials: CachingCredentialProvider
    let http: HTTPExchange
    let budget: RateBudget
    let quota: RetryQuota
    let signer: SigV4Signer
    let logger: Logger
    let metrics: any MetricsFactory
    let now: @Sendable () -> Date

    public init(configuration: Configuration, credentials: any AWSCredentialProvider, httpClient: AWSHTTPClient,
                rateBudget: RateBudget = .shared, logger: Logger = Logger(label: "vpcnet.ec2"),
                metricsFactory: any MetricsFactory = MetricsSystem.factory, now: @escaping @Sendable () -> Date = Date.init) {
        self.configuration = configuration
        self.credentials = CachingCredentialProvider(credentials, now: now)
        http = httpClient.exchange
        budget = rateBudget
        quota = RetryQuota(capacity: configuration.retry.quotaCapacity)
        signer = SigV4Signer(region: configuration.region, service: "ec2")
        self.logger = logger
        metrics = metricsFactory
        self.now = now
    }

    /// Sends one EC2 action with retries and returns the raw body of the successful response.
    public func send(_ action: EC2Action, _ parameters: [(String, String)]) async throws(EC2Error) -> [UInt8] {
        try await send(action: action.rawValue, parameters)
    }

    /// Sends any action by name, for set-up tools such as the simulator (`CreateVpc`,
    /// `RunInstances`). vpcnet's components use only the typed operations, whose actions are
    /// ``EC2Action``'s and no others, so the IAM policy can name exactly those.
    public func send(action: String, _ parameters: [(String, String)]) async throws(EC2Error) -> [UInt8] {
        let started = ContinuousClock.now
        defer {
            Timer(label: "vpcnet_ec2_request_duration_seconds", dimensions: [("action", action)], factory: metrics)
                .record(duration: ContinuousClock.now - started)
        }
        let body = Array(QueryForm.encode([("Action", action), ("Version", configuration.apiVersion)] + parameters).utf8)
        let policy = configuration.retry
        var lastRetryCost = 0
        var attempt = 0
        var retriedExpired = false
        while true {
            attempt += 1
            do {
                let waited = try await budget.acquire(action)
                if waited > .zero {
                    Timer(label: "vpcnet_ec2_rate_budget_wait_seconds", dimensions: [("action", action)], factory: metrics).record(duration: waited)
                }
            } catch {
                throw .transport("cancelled while waiting for the EC2 rate budget")
            }
            do {
                let response = try await attemptOnce(action: action, body: body)
                count("vpcnet_ec2_attempts_total", action, outcome: "success")
                count("vpcnet_ec2_requests_total", action, outcome: "success")
                quota.release(attempt > 1 ? lastRetryCost : 1)
                return response
            } catch {
                count("vpcnet_ec2_attempts_total", action, outcome: Self.outcome(error))
                // EC2 reports expired session credentials as RequestExpired (STS-style services as
                // ExpiredToken): drop the cache and retry once with fresh credentials.
                let expired = error.code.map(Self.expiredCredentialCodes.contains) ?? false
                if expired { await credentials.invalidate() }
                let retryable = error.isRetryable || (expired && !retriedExpired)
                if expired { retriedExpired = true }
                guard retryable, attempt < policy.maxAttempts, !Task.isCancelled else {
                    count("vpcnet_ec2_requests_total", action, outcome: Self.outcome(error))
                    throw error
                }
                let cost = policy.cost(of: error)
                guard quota.acquire(cost) else {
                    logger.warning("EC2 retry quota exhausted; not retrying", metadata: ["action": "\(action)", "error": "\(error)"])
                    count("vpcnet_ec2_requests_total", action, outcome: Self.outcome(error))
                    throw error
                }
                lastRetryCost = cost
                let delay = policy.backoff(beforeRetry: attempt)
                Counter(label: "vpcnet_ec2_retries_total", dimensions: [("action", action), ("reason", Self.outcome(error))],
                        factory: metrics).increment()
                logger.debug("retrying EC2 call", metadata: [
                    "action": "\(action)", "attempt": "\(attempt)", "error": "\(error)", "delay": "\(delay)",
                ])
                do { try await Task.sleep(for: delay) } catch { throw .transport("cancelled during retry backoff") }
            }
        }
    }

    /// Sends `action` and decodes the response as `T`.
    func call<T: Decodable>(_ action: EC2Action, _ parameters: [(String, String)], as type: T.Type) async throws(EC2Error) -> T {
        let body = try await send(action, parameters)
        return try EC2ResponseDecoder.decode(T.self, from: body, status: 200)
    }

    private func attemptOnce(action: String, body: [UInt8]) async throws(EC2Error) -> [UInt8] {
        let credentials = try await self.credentials.credentials()
        let headers = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
        let signed = signer.sign(.init(method: "POST", url: configuration.endpoint, headers: headers, body: body),
                                 credentials: credentials, date: now())
        let response = try await http.send(method: .POST, url: configuration.endpoint,
                                           headers: headers + signed.map { ($0.name, $0.value) }, body: body,
                                           timeout: configuration.requestTimeout)
        guard (200...299).contains(response.status) else { throw EC2ResponseDecoder.error(status: response.status, body: response.body) }
        return response.body
    }

    private func count(_ label: String, _ action: String, outcome: String) {
        Counter(label: label, dimensions: [("action", action), ("outcome", outcome)], factory: metrics).increment()
    }

    static let expiredCredentialCodes: Set<EC2ErrorCode> = ["RequestExpired", "ExpiredToken", "ExpiredTokenException"]

    static func outcome(_ error: EC2Error) -> String {
        switch error {
        case .api(let e): e.code.rawValue
        case .transport: "transport"
        case .timeout: "timeout"
        case .invalidResponse: "invalid_response"
        case .responseTooLarge: "response_too_large"
        case .credentials: "credentials"
        case .invalidRequest: "invalid_request"
        }
    }
}
