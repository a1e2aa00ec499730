import Foundation

/// A source of AWS credentials.
public protocol AWSCredentialProvider: Sendable {
    /// Credentials, or `nil` when this source is not configured (the chain then tries the next).
    /// Throws when the source is configured but fails (e.g. STS refuses the web identity token).
    func resolve() async throws(EC2Error) -> AWSCredentials?
}

/// Fixed credentials (tests, simulators).
public struct StaticCredentialProvider: AWSCredentialProvider {
    public let credentials: AWSCredentials
    public init(_ credentials: AWSCredentials) { self.credentials = credentials }
    public func resolve() async throws(EC2Error) -> AWSCredentials? { credentials }
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally `AWS_SESSION_TOKEN`.
public struct EnvironmentCredentialProvider: AWSCredentialProvider {
    let environment: [String: String]
    public init(environment: [String: String]) { self.environment = environment }

    public func resolve() async throws(EC2Error) -> AWSCredentials? {
        let key = environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = environment["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        switch (key, secret) {
        case (nil, nil): return nil
        case (let key?, let secret?):
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token)
        default:
            throw .credentials("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together")
        }
    }
}

/// Tries providers in order and uses the first that is configured, as the AWS SDKs do.
/// The provider that answered is remembered, so later refreshes go straight to it.
public actor CredentialChain: AWSCredentialProvider {
    private let providers: [any AWSCredentialProvider]
    private var chosen: (any AWSCredentialProvider)?

    public init(_ providers: [any AWSCredentialProvider]) { self.providers = providers }

    public func resolve() async throws(EC2Error) -> AWSCredentials? {
        if let chosen { return try await chosen.resolve() }
        for provider in providers {
            if let credentials = try await provider.resolve() {
                chosen = provider
                return credentials
            }
        }
        return nil
    }
}

/// Caches credentials and refreshes temporary ones before they expire.
///
/// Long-term keys are resolved once. Temporary credentials are served from the cache until
/// `refreshAhead` before expiry; then one background refresh starts while callers keep using the
/// still-valid credentials. Only when they are within `mandatoryRefresh` of expiry (or expired)
/// do callers wait, and then all of them wait for the same single refresh.
public actor CachingCredentialProvider {
    private let source: any AWSCredentialProvider
    private let refreshAhead: Duration
    private let mandatoryRefresh: Duration
    private let now: @Sendable () -> Date
    private var cached: AWSCredentials?
    private var refreshing: Task<AWSCredentials, any Error>?
    private var lastFailure: Date?

    public init(_ source: any AWSCredentialProvider, refreshAhead: Duration = .seconds(15 * 60),
                mandatoryRefresh: Duration = .seconds(5 * 60), now: @escaping @Sendable () -> Date = Date.init) {
        self.source = source
        self.refreshAhead = refreshAhead
        self.mandatoryRefresh = mandatoryRefresh
        self.now = now
    }

    public func credentials() async throws(EC2Error) -> AWSCredentials {
        if let cached {
            guard let expiration = cached.expiration else { return cached }
            let remaining = expiration.timeIntervalSince(now())
            if remaining > refreshAhead.seconds { return cached }
            if remaining > mandatoryRefresh.seconds {
                // After a failed background refresh, wait a little before the next, so an STS or
                // IMDS outage does not turn every call into a refresh attempt.
                if lastFailure.map({ now().timeIntervalSince($0) > 30 }) ?? true { _ = startRefresh() }
                return cached
            }
        }
        do {
            return try await startRefresh().value
        } catch let error as EC2Error {
            throw error
        } catch {
            throw .credentials(String(describing: error))
        }
    }

    /// Drops the cache, e.g. after the service rejected the credentials as expired.
    public func invalidate() {
        cached = nil
    }

    private func startRefresh() -> Task<AWSCredentials, any Error> {
        if let refreshing { return refreshing }
        let source = self.source
        let task = Task<AWSCredentials, any Error> {
            guard let credentials = try await source.resolve() else {
                throw EC2Error.credentials("""
                    no credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or AWS_ROLE_ARN with \
                    AWS_WEB_IDENTITY_TOKEN_FILE (IRSA), or a profile in ~/.aws/credentials, or run on EC2 with an instance role
                    """)
            }
            return credentials
        }
        refreshing = task
        Task { await self.finish(task) }
        return task
    }

    private func finish(_ task: Task<AWSCredentials, any Error>) async {
        switch await task.result {
        case .success(let credentials):
            cached = credentials
            lastFailure = nil
        case .failure:
            lastFailure = now()
        }
        if refreshing == task { refreshing = nil }
    }

}

/// Calls a credentials endpoint (STS, the container agent) up to `attempts` times, with full
/// jitter between tries, retrying only what ``EC2Error/isRetryable`` allows. Failures become
/// ``EC2Error/credentials(_:)`` naming `what`.
func fetchCredentials(_ what: String, attempts: Int, baseDelay: Duration,
                      _ call: () async throws(EC2Error) -> AWSCredentials) async throws(EC2Error) -> AWSCredentials {
    var lastError = EC2Error.credentials("\(what) was not called")
    for attempt in 1...max(1, attempts) {
        if attempt > 1 { try? await Task.sleep(for: .nanoseconds(Int64.random(in: 0..<max(1, (baseDelay * (1 << attempt)).nanoseconds)))) }
        do {
            return try await call()
        } catch {
            lastError = error
            if !error.isRetryable { break }
        }
    }
    throw .credentials("\(what) failed: \(lastError)")
}
