import ControllerRuntime
import Foundation
import Kubernetes
import Logging
import VPCNetCore

/// The garbage collector's part the simulated workloads need: pods whose controlling ReplicaSet
/// or DaemonSet is gone, and ReplicaSets whose Deployment is gone, are deleted (background
/// propagation, `kubectl delete`'s default). As the real collector does, the owner is looked up
/// in the API before anything is deleted, so an owner the caches have not seen yet is not missed.
final class GarbageCollector: Sendable {
    let kube: KubeClient
    let pods: Informer<Pod>
    let replicaSets: Informer<ReplicaSet>
    let daemonSets: Informer<DaemonSet>
    let deployments: Informer<Deployment>
    let logger: Logger

    init(kube: KubeClient, pods: Informer<Pod>, replicaSets: Informer<ReplicaSet>, daemonSets: Informer<DaemonSet>,
         deployments: Informer<Deployment>, logger: Logger) {
        self.kube = kube
        self.pods = pods
        self.replicaSets = replicaSets
        self.daemonSets = daemonSets
        self.deployments = deployments
        self.logger = logger
    }

    func run() async {
        await ControlLoop.run(after: [pods.waitForSync, replicaSets.waitForSync, daemonSets.waitForSync, deployments.waitForSync],
                              every: .seconds(1)) {
            // Owners the caches hold are not looked up: only a missing one is.
            let known = Set(replicaSets.list().compactMap(\.uid) + daemonSets.list().compactMap(\.uid) + deployments.list().compactMap(\.uid))
            for pod in pods.list() {
                guard let owner = pod.controllerOwner, !known.contains(owner.uid) else { continue }
                let present: Bool
                switch owner.kind {
                case "ReplicaSet": present = await exists(ReplicaSet.self, pod.namespace, owner)
                case "DaemonSet": present = await exists(DaemonSet.self, pod.namespace, owner)
                default: continue
                }
                if !present { try? await kube.delete(Pod.self, namespace: pod.namespace, name: pod.name, uid: pod.uid) }
            }
            for set in replicaSets.list() {
                guard let owner = set.controllerOwner, owner.kind == "Deployment", !known.contains(owner.uid) else { continue }
                if await !exists(Deployment.self, set.namespace, owner) {
                    try? await kube.delete(ReplicaSet.self, namespace: set.namespace, name: set.name, uid: set.uid)
                }
            }
        }
    }

    /// Whether the owner exists with the uid the reference names. An error other than "not found" counts as present.
    private func exists<T: KubeObject>(_ type: T.Type, _ namespace: String?, _ owner: (kind: String, name: String, uid: String)) async -> Bool {
        do {
            return try await kube.get(type, namespace: namespace, name: owner.name).uid == owner.uid
        } catch {
            return !error.isNotFound
        }
    }
}
