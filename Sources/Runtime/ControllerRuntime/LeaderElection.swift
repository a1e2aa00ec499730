import Foundation
import Kubernetes
import Logging
import Synchronization

/// Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it.
///
/// A candidate takes the Lease when it is free or its holder has not renewed it for
/// `leaseDuration`, measured on this process's monotonic clock from when the record was last
/// seen to change (so clock skew between machines does not matter). The leader renews every
/// `retryPeriod`; if it cannot renew for `renewDeadline` it stops its work and reports
/// ``LeaderElectionError/lost``. Cancelling ``run(_:)`` releases the Lease so a standby takes
/// over at once instead of after `leaseDuration`.
public final class LeaderElector: Sendable {
    public struct Configuration: Sendable {
        public var namespace: String
        public var name: String
        /// This candidate's unique name (pod name plus a random suffix, typically).
        public var identity: String
        public var leaseDuration: Duration
        public var renewDeadline: Duration
        public var retryPeriod: Duration

        public init(namespace: String, name: String, identity: String, leaseDuration: Duration = .seconds(15),
                    renewDeadline: Duration = .seconds(10), retryPeriod: Duration = .seconds(2)) {
            self.namespace = namespace
            self.name = name
            self.identity = identity
            self.leaseDuration = leaseDuration
            self.renewDeadline = renewDeadline
            self.retryPeriod = retryPeriod
        }

        func validate() throws(LeaderElectionError) {
            guard leaseDuration > renewDeadline, renewDeadline > retryPeriod * 1.2, retryPeriod > .zero, !identity.isEmpty else {
                throw .invalidConfiguration("need leaseDuration > renewDeadline > 1.2 × retryPeriod > 0 and an identity")
            }
        }
    }

    public let client: KubeClient
    public let configuration: Configuration
    let logger: Logger
    private let observed = Mutex<(record: String?, at: ContinuousClock.Instant)?>(nil)
    private let leading = Atomic<Bool>(false)
    private let attemptCount = Atomic<Int>(0)
    /// Said once per stretch of waiting on another holder, not at every attempt.
    private let standingBy = Atomic<Bool>(false)

    public init(client: KubeClient, configuration: Configuration, logger: Logger = Logger(label: "vpcnet.leader-election")) {
        self.client = client
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "lease"] = "\(configuration.namespace)/\(configuration.name)"
        logger[metadataKey: "identity"] = "\(configuration.identity)"
        self.logger = logger
    }

    public var isLeader: Bool { leading.load(ordering: .relaxed) }

    /// How many times this candidate has tried to take or renew the Lease (whatever the outcome).
    public var attempts: Int { attemptCount.load(ordering: .relaxed) }

    /// Campaigns until this candidate leads, runs `work` while it does, and returns when `work`
    /// returns (releasing the Lease). Throws ``LeaderElectionError/lost`` (after cancelling
    /// `work`) if renewal fails for `renewDeadline`, and `CancellationError` when cancelled.
    public func run(_ work: @escaping @Sendable () async throws -> Void) async throws {
        try configuration.validate()
        while true {
            try Task.checkCancellation()
            if await tryAcquireOrRenew() { break }
            try await Task.sleep(for: configuration.retryPeriod * Double.random(in: 1.0...1.2))
        }
        leading.store(true, ordering: .relaxed)
        logger.info("became leader")
        defer { leading.store(false, ordering: .relaxed) }

        enum Outcome { case workFinished, lost, cancelled }
        let outcome: Outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
            group.addTask {
                try await work()
                return .workFinished
            }
            group.addTask {
                // Returns only when leadership is lost, or by cancellation.
                return await self.renewLoop() ? .lost : .cancelled
            }
            defer { group.cancelAll() }
            do {
                return try await group.next() ?? .cancelled
            } catch {
                if Task.isCancelled { return .cancelled }
                throw error
            }
        }
        switch outcome {
        case .lost:
            logger.error("lost leadership; work stopped")
            throw LeaderElectionError.lost
        case .workFinished, .cancelled:
            // Release outside the (possibly cancelled) task so the request is not cancelled with it.
            await Task { await self.release() }.value
            if outcome == .cancelled { throw CancellationError() }
        }
    }

    /// Renews every retryPeriod; returns true when renewal has failed for renewDeadline. A renewal
    /// that hangs (a half-open connection) counts as failed once the deadline passes, so a leader
    /// never works on after a standby may have taken the Lease (client-go bounds it the same way).
    private func renewLoop() async -> Bool {
        var lastRenewal = ContinuousClock.now
        while (try? await Task.sleep(for: configuration.retryPeriod)) != nil {
            let remaining = configuration.renewDeadline - (ContinuousClock.now - lastRenewal)
            if remaining <= .zero { return true }
            let renewed = await withTaskGroup(of: Bool?.self) { group in
                group.addTask { await self.tryAcquireOrRenew() }
                group.addTask { (try? await Task.sleep(for: remaining)).map { false } }
                defer { group.cancelAll() }
                return await group.next() ?? false
            }
            if Task.isCancelled { return false }
            if renewed == true {
                lastRenewal = .now
            } else if ContinuousClock.now - lastRenewal >= configuration.renewDeadline {
                return true
            }
        }
        return false
    }

    /// One attempt to take or keep the Lease; false when another holder's lease is live or the write lost a race.
    func tryAcquireOrRenew() async -> Bool {
        defer { attemptCount.add(1, ordering: .relaxed) }
        let now = Date()
        // (A Result, not `catch where`: the 6.3 compiler crashes on that in async typed throws.)
        let fetched: Result<Lease, KubeError>
        do { fetched = .success(try await client.get(Lease.self, namespace: configuration.namespace, name: configuration.name)) } catch {
            fetched = .failure(error)
        }
        let lease: Lease
        switch fetched {
        case .success(let found):
            lease = found
        case .failure(let error) where error.isNotFound:
            var fresh = Lease(raw: ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                    "metadata": ["name": .string(configuration.name), "namespace": .string(configuration.namespace)]])
            fresh.setRecord(holder: configuration.identity, leaseSeconds: leaseSeconds, acquired: now, renewed: now, transitions: 0)
            do {
                _ = try await client.create(fresh)
                logger.info("created and acquired the lease")
                return true
            } catch {
                logger.debug("creating the lease failed", metadata: ["error": "\(error)"])
                return false
            }
        case .failure(let error):
            logger.warning("reading the lease failed", metadata: ["error": "\(error)"])
            return false
        }

        let record = lease.observedRecord
        let seenAt = observed.withLock { observed -> ContinuousClock.Instant in
            if observed?.record != record { observed = (record, .now) }
            return observed!.at
        }
        let holder = lease.holderIdentity ?? ""
        let duration = Duration.seconds(lease.leaseDurationSeconds ?? 0)
        if !holder.isEmpty, holder != configuration.identity, ContinuousClock.now - seenAt < duration {
            if standingBy.exchange(true, ordering: .relaxed) == false {
                logger.info("standing by: the lease is held", metadata: ["holder": "\(holder)"])
            }
            return false
        }
        standingBy.store(false, ordering: .relaxed)

        var next = lease
        let mine = holder == configuration.identity
        next.setRecord(holder: configuration.identity, leaseSeconds: leaseSeconds,
                       acquired: mine ? nil : now, renewed: now, transitions: mine ? lease.leaseTransitions : lease.leaseTransitions + 1)
        do {
            let written = try await client.replace(next)
            observed.withLock { $0 = (written.observedRecord, .now) }
            if !mine { logger.info("acquired the lease", metadata: ["previous": "\(holder)"]) }
            return true
        } catch {
            logger.debug("writing the lease failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Gives the Lease up if we still hold it (client-go's ReleaseOnCancel).
    func release() async {
        do {
            try await client.update(Lease.self, namespace: configuration.namespace, name: configuration.name) { lease in
                guard lease.holderIdentity == self.configuration.identity else { return false }
                lease.setRecord(holder: "", leaseSeconds: 1, acquired: nil, renewed: Date(), transitions: lease.leaseTransitions)
                return true
            }
            logger.info("released the lease")
        } catch {
            logger.warning("releasing the lease failed; a standby takes over when it expires", metadata: ["error": "\(error)"])
        }
    }

    private var leaseSeconds: Int {
        Int(configuration.leaseDuration.components.seconds + (configuration.leaseDuration.components.attoseconds > 0 ? 1 : 0))
    }
}

public enum LeaderElectionError: Error, Sendable, Equatable {
    /// Renewal failed for the renew deadline; the work was cancelled.
    case lost
    case invalidConfiguration(String)
}

extension Lease {
    /// What a candidate watches for change: while it stays the same, the holder is not renewing.
    var observedRecord: String { "\(holderIdentity ?? "")|\(renewTime ?? "")|\(leaseDurationSeconds ?? 0)" }

    /// Kubernetes MicroTime: RFC 3339 with exactly six fractional digits, UTC.
    static func microTime(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let micros = Int((date.timeIntervalSince1970 - seconds) * 1_000_000)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let base = formatter.string(from: Date(timeIntervalSince1970: seconds))
        return base.dropLast() + "." + String(format: "%06d", micros) + "Z"
    }

    mutating func setRecord(holder: String, leaseSeconds: Int, acquired: Date?, renewed: Date, transitions: Int) {
        set("spec.holderIdentity", .string(holder))
        set("spec.leaseDurationSeconds", .int(Int64(leaseSeconds)))
        if let acquired { set("spec.acquireTime", .string(Self.microTime(acquired))) }
        set("spec.renewTime", .string(Self.microTime(renewed)))
        set("spec.leaseTransitions", .int(Int64(transitions)))
    }
}
