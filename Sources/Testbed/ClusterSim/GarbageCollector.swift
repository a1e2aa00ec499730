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
    let logger: Logger

    init(kube: KubeClient, pods: Informer<Pod>, replicaSets: Informer<ReplicaSet>, daemonSets: Informer<DaemonSet>, logger: Logger) {
        self.kube = kube
        self.pods = pods
        self.replicaSets = replicaSets
        self.daemonSets = daemonSets
        self.logger = logger
    }

    func run() async {
        for synced in [pods.waitForSync, replicaSets.waitForSync, daemonSets.waitForSync] { await synced() }
        while !Task.isCancelled {
            // Owners the caches hold are not looked up: only a missing one is.
            let known = Set(replicaSets.list().compactMap(\.uid) + daemonSets.list().compactMap(\.uid))
            for pod in pods.list() {
                guard let owner = Self.controller(of: pod), !known.contains(owner.uid) else { continue }
                let present: Bool
                switch owner.kind {
                case "ReplicaSet": present = await exists(ReplicaSet.self, pod.namespace, owner)
                case "DaemonSet": present = await exists(DaemonSet.self, pod.namespace, owner)
                default: continue
                }
                if !present { try? await kube.delete(Pod.self, namespace: pod.namespace, name: pod.name, uid: pod.uid) }
            }
            for set in replicaSets.list() {
                guard let owner = Self.controller(of: set), owner.kind == "Deployment" else { continue }
                if await !exists(Deployment.self, set.namespace, owner) {
                    try? await kube.delete(ReplicaSet.self, namespace: set.namespace, name: set.name, uid: set.uid)
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    static func controller(of object: some KubeObject) -> (kind: String, name: String, uid: String)? {
        guard let reference = (object.raw.value(at: "metadata.ownerReferences")?.arrayValue ?? []).first(where: { $0["controller"] == .bool(true) }),
              let kind = reference["kind"]?.stringValue, let name = reference["name"]?.stringValue, let uid = reference["uid"]?.stringValue else { return nil }
        return (kind, name, uid)
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
