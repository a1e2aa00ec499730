import ControllerRuntime
import Foundation
import Kubernetes
import Logging
import VPCNetCore

/// The ReplicaSet controller of the simulated control plane: keeps `spec.replicas` pods of each
/// ReplicaSet, made from its template with the ReplicaSet as their controller, and reports them
/// in its status. Level-triggered: every pass compares the caches with what they should hold.
final class ReplicaSetController: Sendable {
    let kube: KubeClient
    let replicaSets: Informer<ReplicaSet>
    let pods: Informer<Pod>
    let logger: Logger

    init(kube: KubeClient, replicaSets: Informer<ReplicaSet>, pods: Informer<Pod>, logger: Logger) {
        self.kube = kube
        self.replicaSets = replicaSets
        self.pods = pods
        self.logger = logger
    }

    func run() async {
        await ControlLoop.run(after: [replicaSets.waitForSync, pods.waitForSync]) {
            let byOwner = Pod.byController(pods.list())
            for replicaSet in replicaSets.list() where replicaSet.deletionTimestamp == nil {
                await sync(replicaSet, pods: byOwner[replicaSet.uid ?? ""] ?? [])
            }
        }
    }

    private func sync(_ replicaSet: ReplicaSet, pods: [Pod]) async {
        let plan = ReplicaSetPlan(replicaSet, pods: pods)
        for _ in 0..<plan.creations {
            do { _ = try await kube.create(ReplicaSetPlan.pod(for: replicaSet)) } catch {
                logger.debug("cannot create a pod", metadata: ["replicaset": "\(replicaSet.name)", "error": "\(error)"])
            }
        }
        for pod in plan.deletions {
            try? await kube.delete(Pod.self, namespace: pod.namespace, name: pod.name, uid: pod.uid)
        }
        if replicaSet.raw["status"] != plan.status {
            _ = try? await kube.patch(ReplicaSet.self, namespace: replicaSet.namespace, name: replicaSet.name, subresource: "status", .merge,
                                      ["status": plan.status])
        }
    }
}

/// What one pass does for a ReplicaSet (pure: unit-tested).
struct ReplicaSetPlan {
    var creations = 0
    var deletions: [Pod] = []
    var status: JSONValue

    /// `pods`: those the ReplicaSet controls. Surplus pods go in the controller's order: not
    /// scheduled, then pending, then not ready, then the youngest.
    init(_ replicaSet: ReplicaSet, pods: [Pod]) {
        let active = pods.filter(\.isActive)
        let wanted = replicaSet.replicas
        if active.count < wanted {
            creations = wanted - active.count
        } else if active.count > wanted {
            func rank(_ pod: Pod) -> (Int, Int, Int) { (pod.nodeName == nil ? 0 : 1, pod.phase == "Running" ? 1 : 0, pod.isReady ? 1 : 0) }
            func created(_ pod: Pod) -> String { pod.raw.value(at: "metadata.creationTimestamp")?.stringValue ?? "" }
            deletions = Array(active.sorted { rank($0) != rank($1) ? rank($0) < rank($1) : created($0) > created($1) }.prefix(active.count - wanted))
        }
        let templateLabels = (replicaSet.raw.value(at: "spec.template.metadata.labels")?.objectValue ?? [:]).compactMapValues(\.stringValue)
        let ready = active.filter(\.isReady).count
        status = ["replicas": .int(Int64(active.count)), "readyReplicas": .int(Int64(ready)), "availableReplicas": .int(Int64(ready)),
                  "fullyLabeledReplicas": .int(Int64(active.count { pod in templateLabels.allSatisfy { pod.labels[$0.key] == $0.value } })),
                  "observedGeneration": .int(replicaSet.generation)]
    }

    /// A new pod from the ReplicaSet's template, named `<replicaset>-<random>` by the API.
    static func pod(for replicaSet: ReplicaSet) -> Pod {
        var metadata = replicaSet.raw.value(at: "spec.template.metadata") ?? [:]
        metadata["generateName"] = .string("\(replicaSet.name)-")
        metadata["namespace"] = .string(replicaSet.namespace ?? "default")
        metadata["ownerReferences"] = [replicaSet.controllerReference]
        return Pod(raw: ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": replicaSet.raw.value(at: "spec.template.spec") ?? [:]])
    }
}
