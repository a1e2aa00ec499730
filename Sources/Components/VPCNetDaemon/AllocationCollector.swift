import ControllerRuntime
import Foundation
import IPAM
import Kubernetes
import Logging
import Synchronization
import VPCNetContracts
import VPCNetCore

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
