import ControllerRuntime
import Foundation
import Kubernetes
import Logging
import Synchronization
import VPCNetCore

/// What the controller knows of each NetworkProfile from its reconciles: the nodes whose record
/// carries it (with their pod addresses for it) and, per selected node, why it could not be given
/// the profile. ``status(of:spec:now:)`` turns that into the object's status; ``ProfileStatusWriter``
/// writes it.
struct ProfileLedger: Sendable {
    /// node → profile → pod addresses its record gives the profile.
    private(set) var carried: [String: [String: Int]] = [:]
    /// profile → node → problem.
    private(set) var problems: [String: [String: String]] = [:]

    /// A reconcile's result for one node: its record (nil: not provisioned) and its profiles' problems
    /// among the profiles that select it.
    mutating func report(node: String, record: NodeNetworkRecord?, selected: [String], problems found: [String: String]) {
        carried[node] = record.map { record in
            Dictionary(record.profiles.map { ($0, record.podENIs(profile: $0).reduce(0) { $0 + $1.podAddresses.count }) }, uniquingKeysWith: +)
        }
        for profile in Set(problems.keys).union(selected).union(found.keys) {
            problems[profile, default: [:]][node] = found[profile]
            if problems[profile]?.isEmpty == true { problems[profile] = nil }
        }
    }

    mutating func nodeGone(_ node: String) {
        carried[node] = nil
        for profile in problems.keys { problems[profile]?[node] = nil }
    }

    /// The status for a profile: `spec` is nil when its spec is unusable (`invalid` says why).
    func status(of profile: NetworkProfile, invalid: String?, previous: JSONValue?, now: String) -> JSONValue {
        let name = profile.name
        let nodes = carried.values.filter { $0[name] != nil }
        let capacity = nodes.reduce(0) { $0 + ($1[name] ?? 0) }
        let failing = (problems[name] ?? [:]).sorted { $0.key < $1.key }
        let (ready, reason, message): (Bool, String, String)
        if let invalid {
            (ready, reason, message) = (false, "InvalidSpec", invalid)
        } else if let (node, problem) = failing.first {
            let others = failing.count > 1 ? " (and \(failing.count - 1) more nodes)" : ""
            (ready, reason, message) = (false, "NodeProblems", "node \(node): \(problem)\(others)")
        } else {
            (ready, reason, message) = (true, "Provisioned", "every selected node has the profile's ENIs")
        }
        let status = ready ? "True" : "False"
        let old = previous?["conditions"]?.arrayValue?.first { $0["type"] == "Ready" }
        let since = old?["status"]?.stringValue == status ? old?["lastTransitionTime"] ?? .string(now) : .string(now)
        return [
            "observedGeneration": .int(Int64(profile.generation)),
            "nodes": .int(Int64(nodes.count)),
            "capacity": .int(Int64(capacity)),
            "conditions": [["type": "Ready", "status": .string(status), "reason": .string(reason), "message": .string(message),
                            "lastTransitionTime": since, "observedGeneration": .int(Int64(profile.generation))]],
        ]
    }
}

/// Writes each NetworkProfile's status (through its `status` subresource) when what the ledger
/// says of it changes, and records an Event on the profile for each new problem. Checks every
/// `interval`: statuses are for people and `kubectl get`, not a control path.
final class ProfileStatusWriter: Sendable {
    let kube: KubeClient
    let events: EventRecorder
    let logger: Logger
    let interval: Duration
    let ledger = Mutex(ProfileLedger())
    private let told = Mutex<[String: String]>([:])

    init(kube: KubeClient, events: EventRecorder, logger: Logger, interval: Duration = .seconds(2)) {
        self.kube = kube
        self.events = events
        self.logger = logger
        self.interval = interval
    }

    func run(profiles: Informer<NetworkProfile>, invalid: @escaping @Sendable (NetworkProfile) -> String?) async {
        while (try? await Task.sleep(for: interval)) != nil {
            for profile in profiles.list().sorted(by: { $0.name < $1.name }) { await write(profile, invalid: invalid(profile)) }
        }
    }

    func write(_ profile: NetworkProfile, invalid: String?) async {
        let now = ISO8601DateFormatter().string(from: Date())
        let status = ledger.withLock { $0.status(of: profile, invalid: invalid, previous: profile.status, now: now) }
        let ready = status["conditions"]?.arrayValue?.first
        if ready?["status"] == "False", let message = ready?["message"]?.stringValue {
            if told.withLock({ $0.updateValue(message, forKey: profile.name) }) != message {
                let reason = ready?["reason"] == "InvalidSpec" ? "InvalidNetworkProfile" : "NetworkProfileProblem"
                await events.record(profile, .warning, reason: reason, message: message)
            }
        } else {
            told.withLock { _ = $0.removeValue(forKey: profile.name) }  // a problem that comes back is told again
        }
        guard status != profile.status else { return }
        do {
            _ = try await kube.patch(NetworkProfile.self, name: profile.name, subresource: "status", .merge, ["status": status])
        } catch {
            logger.warning("cannot write a network profile's status", metadata: ["profile": "\(profile.name)", "error": "\(error)"])
        }
    }
}
