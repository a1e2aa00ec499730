import ControllerRuntime
import Foundation
import IPAM
import Kubernetes
import Logging
import Synchronization
import VPCNetContracts
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
