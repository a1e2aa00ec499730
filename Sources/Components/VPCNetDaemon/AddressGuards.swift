import ControllerRuntime
import Foundation
import IPAM
import Kubernetes
import Logging
import Synchronization
import VPCNetCore

/// Keeps `k8s-vpcnet/no-free-ips:NoSchedule` on the node exactly while no address can be
/// allocated. Without flapping: the taint goes on at once (before the scheduler sends another pod)
/// but comes off only after addresses have been free for `settle`.
public struct FreeAddressTaintPolicy: Sendable, Hashable {
    public var settle: Duration

    public init(settle: Duration = .seconds(5)) { self.settle = settle }

    /// Whether the node should be tainted now, given whether it is and since when addresses have
    /// been free (nil: none are free).
    public func shouldTaint(tainted: Bool, freeSince: ContinuousClock.Instant?, now: ContinuousClock.Instant) -> Bool {
        guard let freeSince else { return true }
        return tainted && now - freeSince < settle
    }
}

/// The taint loop: checks the pool every `interval` and when told an ADD failed.
public final class FreeAddressTaint: ExhaustionObserver, Sendable {
    let kube: KubeClient
    let nodeName: String
    let manager: AddressManager
    let policy: FreeAddressTaintPolicy
    let interval: Duration
    let rescheduler: PodRescheduler?
    let logger: Logger
    /// The node as the agent's informer last saw it: a check every second must not cost an API
    /// request per node.
    let cachedNode: @Sendable () -> Node?
    private let trigger = Trigger()
    private let freeSince = Mutex<ContinuousClock.Instant?>(nil)

    public init(kube: KubeClient, nodeName: String, manager: AddressManager, policy: FreeAddressTaintPolicy = FreeAddressTaintPolicy(),
                interval: Duration = .seconds(1), rescheduler: PodRescheduler?, logger: Logger,
                cachedNode: @escaping @Sendable () -> Node?) {
        self.kube = kube
        self.nodeName = nodeName
        self.manager = manager
        self.policy = policy
        self.interval = interval
        self.rescheduler = rescheduler
        self.logger = logger
        self.cachedNode = cachedNode
    }

    public func addFailedForLackOfAddresses(pod: PodReference) async {
        trigger.fire()
        // The plugin's answer must not wait on the Kubernetes API.
        if let rescheduler { Task { await rescheduler.podHasNoAddress(pod) } }
    }

    public func run() async {
        while !Task.isCancelled {
            await reconcile()
            await trigger.wait(atMost: interval)
        }
    }

    func reconcile() async {
        let status = await manager.status
        // Before the addresses are known the node is not ready anyway (no CNI configuration).
        guard status.configured else { return }
        let now = ContinuousClock.now
        let since = freeSince.withLock { since -> ContinuousClock.Instant? in
            if status.free == 0 { since = nil } else if since == nil { since = now }
            return since
        }
        let taint = WellKnown.Taints.noFreeIPs
        do {
            guard let node = cachedNode() else { return }
            let tainted = node.hasTaint(taint)
            let want = policy.shouldTaint(tainted: tainted, freeSince: since, now: now)
            guard want != tainted else { return }
            // The update reads the Node afresh, so a stale cache costs at most a no-op.
            _ = try await kube.update(Node.self, name: nodeName) { node in
                want ? node.addTaint(taint) : node.removeTaint(key: taint.key, effect: taint.effect)
            }
            logger.notice(want ? "no free pod address: node tainted" : "pod addresses free again: taint removed",
                          metadata: ["taint": "\(taint)", "free": "\(status.free)", "coolingDown": "\(status.coolingDown)"])
        } catch {
            logger.warning("cannot update the no-free-ips taint", metadata: ["error": "\(error)"])
        }
    }
}

/// Optionally deletes a pod whose ADD failed for lack of addresses when a controller owns it (it
/// is recreated and, with the node tainted, scheduled elsewhere); says so in an Event either way.
public final class PodRescheduler: Sendable {
    let kube: KubeClient
    let events: EventRecorder
    let deletePods: Bool
    let logger: Logger
    private let handled = Mutex<Set<String>>([])

    public init(kube: KubeClient, deletePods: Bool, logger: Logger) {
        self.kube = kube
        self.deletePods = deletePods
        self.logger = logger
        events = EventRecorder(client: kube, component: "vpcnet-daemon", logger: logger)
    }

    func podHasNoAddress(_ reference: PodReference) async {
        guard !reference.name.isEmpty, !reference.namespace.isEmpty else { return }
        let pod: Pod
        do { pod = try await kube.get(Pod.self, namespace: reference.namespace, name: reference.name) } catch { return }
        guard reference.uid.isEmpty || pod.uid == reference.uid else { return }
        let ownedByController = (pod.raw.value(at: "metadata.ownerReferences")?.arrayValue ?? []).contains { $0["controller"] == .bool(true) }
        guard deletePods, ownedByController else {
            await events.record(pod, .warning, reason: "NoFreeAddress", message:
                "no free pod address on node \(pod.nodeName ?? "?"); " + (deletePods ? "not deleted: no controller owns this pod" : "pod deletion is off"))
            return
        }
        // One deletion per pod (the runtime retries ADD many times).
        guard handled.withLock({ $0.insert(pod.uid ?? pod.name).inserted }) else { return }
        do {
            try await kube.delete(Pod.self, namespace: reference.namespace, name: reference.name, uid: pod.uid)
            await events.record(pod, .warning, reason: "Rescheduled", message:
                "deleted: no free pod address on node \(pod.nodeName ?? "?"); its controller creates a replacement elsewhere")
            logger.notice("deleted a pod that got no address", metadata: ["pod": "\(reference.namespace)/\(reference.name)"])
        } catch {
            handled.withLock { _ = $0.remove(pod.uid ?? pod.name) }
            logger.warning("cannot delete a pod that got no address", metadata: ["pod": "\(reference.namespace)/\(reference.name)", "error": "\(error)"])
        }
    }
}

/// Releases allocations whose pod no longer exists on this node (the runtime lost a DEL): pods
/// are listed from the API; an allocation younger than `grace` is left alone (its pod may not be
/// visible yet), and one without pod information is left to the CNI GC verb.
public struct AllocationCollector: Sendable {
    let kube: KubeClient
    let nodeName: String
    let manager: AddressManager
    let grace: Duration
    let logger: Logger

    public init(kube: KubeClient, nodeName: String, manager: AddressManager, grace: Duration, logger: Logger) {
        self.kube = kube
        self.nodeName = nodeName
        self.manager = manager
        self.grace = grace
        self.logger = logger
    }

    /// Which allocations have no pod (pure: unit-tested).
    public static func orphans(_ allocations: [Allocation], pods: [Pod], nowMilliseconds: Int64, grace: Duration) -> [Allocation] {
        // A static pod's sandbox carries the kubelet's UID, which its mirror pod in the API holds
        // as the config hash annotation, not as its uid.
        let live = Set(pods.flatMap { pod in
            [pod.uid, pod.annotations["kubernetes.io/config.hash"]].compactMap { $0 }.map { "\(pod.namespace ?? "")/\(pod.name)/\($0)" }
        })
        let liveNames = Set(pods.map { "\($0.namespace ?? "")/\($0.name)" })
        return allocations.filter { allocation in
            guard !allocation.pod.isEmpty, nowMilliseconds - allocation.allocatedAt >= grace.milliseconds else { return false }
            let name = "\(allocation.pod.namespace)/\(allocation.pod.name)"
            if allocation.pod.uid.isEmpty { return !liveNames.contains(name) }
            return !live.contains("\(name)/\(allocation.pod.uid)")
        }
    }

    /// One collection pass; returns what it released.
    @discardableResult
    public func collect() async throws -> [Allocation] {
        // Listed after reading the allocations: a pod created in between is only missed if its
        // allocation is older than `grace`, which it cannot be.
        let allocations = await manager.allocations
        let pods = try await kube.list(Pod.self, fieldSelector: "spec.nodeName=\(nodeName)").items
        let orphans = Self.orphans(allocations, pods: pods, nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000), grace: grace)
        var released: [Allocation] = []
        for orphan in orphans {
            if let allocation = try await manager.release(orphan.key) {
                released.append(allocation)
                logger.notice("released the address of a pod that no longer exists",
                              metadata: ["address": "\(allocation.address)", "pod": "\(allocation.pod.namespace)/\(allocation.pod.name)"])
            }
        }
        return released
    }

    public func run(interval: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            do { try await collect() } catch { logger.warning("cannot collect orphaned allocations", metadata: ["error": "\(error)"]) }
        }
    }
}
