import ControllerRuntime
import Foundation
import Kubernetes
import Logging
import VPCNetCore

/// The DaemonSet controller of the simulated control plane: one pod per node the DaemonSet
/// should run on (its node selector matches and its NoSchedule/NoExecute taints are tolerated,
/// with the tolerations the controller adds to every daemon pod), pinned there by node affinity
/// as the controller does; a changed template replaces pods one node at a time (`maxUnavailable`).
final class DaemonSetController: Sendable {
    let kube: KubeClient
    let daemonSets: Informer<DaemonSet>
    let pods: Informer<Pod>
    let nodes: Informer<Node>
    let logger: Logger

    init(kube: KubeClient, daemonSets: Informer<DaemonSet>, pods: Informer<Pod>, nodes: Informer<Node>, logger: Logger) {
        self.kube = kube
        self.daemonSets = daemonSets
        self.pods = pods
        self.nodes = nodes
        self.logger = logger
    }

    func run() async {
        await ControlLoop.run(after: [daemonSets.waitForSync, pods.waitForSync, nodes.waitForSync]) {
            let byOwner = Pod.byController(pods.list())
            let allNodes = nodes.list()
            for daemonSet in daemonSets.list() where daemonSet.deletionTimestamp == nil {
                await sync(daemonSet, plan: DaemonSetPlan(daemonSet, nodes: allNodes, pods: byOwner[daemonSet.uid ?? ""] ?? []))
            }
        }
    }

    private func sync(_ daemonSet: DaemonSet, plan: DaemonSetPlan) async {
        for node in plan.creations {
            do { _ = try await kube.create(DaemonSetPlan.pod(for: daemonSet, node: node)) } catch {
                logger.debug("cannot create a daemon pod", metadata: ["daemonset": "\(daemonSet.name)", "error": "\(error)"])
            }
        }
        for pod in plan.deletions { try? await kube.delete(Pod.self, namespace: pod.namespace, name: pod.name, uid: pod.uid) }
        if daemonSet.raw["status"] != plan.status {
            _ = try? await kube.patch(DaemonSet.self, namespace: daemonSet.namespace, name: daemonSet.name, subresource: "status", .merge,
                                      ["status": plan.status])
        }
    }
}

/// What one pass does for a DaemonSet (pure: unit-tested).
struct DaemonSetPlan {
    static let hashLabel = "controller-revision-hash"
    /// What the controller tolerates for every daemon pod (`AddOrUpdateDaemonPodTolerations`).
    static let tolerations: [JSONValue] = [
        ["key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"],
        ["key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"],
        ["key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"],
        ["key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"],
        ["key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"],
        ["key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"],
    ]

    var creations: [String] = []
    var deletions: [Pod] = []
    var status: JSONValue = [:]

    init(_ daemonSet: DaemonSet, nodes: [Node], pods: [Pod]) {
        let hash = Self.templateHash(daemonSet)
        let active = pods.filter(\.isActive)
        let probe = Self.pod(for: daemonSet, node: "")
        let eligible = nodes.filter { node in
            let selector = (daemonSet.raw.value(at: "spec.template.spec.nodeSelector")?.objectValue ?? [:]).compactMapValues(\.stringValue)
            return selector.allSatisfy { node.labels[$0.key] == $0.value }
                && node.taints.allSatisfy { ($0.effect != .noSchedule && $0.effect != .noExecute) || probe.tolerates($0) }
        }.map(\.name)
        let onNode = Dictionary(grouping: active, by: { Self.node(of: $0) ?? "" })
        var ready = 0, updated = 0, scheduled = 0
        for node in eligible {
            let mine = onNode[node] ?? []
            if mine.isEmpty { creations.append(node) } else { scheduled += 1 }
            deletions += mine.dropFirst()
            if let pod = mine.first {
                if pod.isReady { ready += 1 }
                if pod.labels[Self.hashLabel] == hash { updated += 1 }
            }
        }
        let misscheduled = onNode.filter { !eligible.contains($0.key) }
        deletions += misscheduled.values.flatMap { $0 }
        // A rolling update: an outdated pod goes only while fewer than maxUnavailable nodes lack a ready pod.
        let maxUnavailable = max(1, daemonSet.int("spec.updateStrategy.rollingUpdate.maxUnavailable"))
        if daemonSet.raw.value(at: "spec.updateStrategy.type") != "OnDelete" {
            var unavailable = eligible.count - ready
            for node in eligible where unavailable < maxUnavailable {
                if let pod = onNode[node]?.first, pod.labels[Self.hashLabel] != hash {
                    deletions.append(pod)
                    if pod.isReady { unavailable += 1 }
                }
            }
        }
        status = ["desiredNumberScheduled": .int(Int64(eligible.count)), "currentNumberScheduled": .int(Int64(scheduled)),
                  "numberMisscheduled": .int(Int64(misscheduled.count)), "numberReady": .int(Int64(ready)),
                  "numberAvailable": .int(Int64(ready)), "numberUnavailable": .int(Int64(eligible.count - ready)),
                  "updatedNumberScheduled": .int(Int64(updated)), "observedGeneration": .int(daemonSet.generation)]
    }

    /// The node a daemon pod is for: where it is bound, or where its node affinity pins it.
    static func node(of pod: Pod) -> String? {
        if let node = pod.nodeName { return node }
        let terms = pod.raw.value(at: "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")?.arrayValue ?? []
        return terms.lazy.flatMap { $0["matchFields"]?.arrayValue ?? [] }.first { $0["key"] == "metadata.name" }?["values"]?.arrayValue?.first?.stringValue
    }

    /// A daemon pod for `node`: the template, the controller's tolerations, and required node
    /// affinity to that node's name (the scheduler binds it, as for any pod).
    static func pod(for daemonSet: DaemonSet, node: String) -> Pod {
        var metadata = daemonSet.raw.value(at: "spec.template.metadata") ?? [:]
        metadata["generateName"] = .string("\(daemonSet.name)-")
        metadata["namespace"] = .string(daemonSet.namespace ?? "default")
        metadata["ownerReferences"] = [daemonSet.controllerReference]
        var labels = metadata["labels"]?.objectValue ?? [:]
        labels[hashLabel] = .string(templateHash(daemonSet))
        metadata["labels"] = .object(labels)
        var spec = daemonSet.raw.value(at: "spec.template.spec") ?? [:]
        var tolerations = spec["tolerations"]?.arrayValue ?? []
        if spec["hostNetwork"] == .bool(true) {
            tolerations.append(["key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"])
        }
        spec["tolerations"] = .array(tolerations + Self.tolerations.filter { !tolerations.contains($0) })
        spec["affinity"] = ["nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": [
            ["matchFields": [["key": "metadata.name", "operator": "In", "values": [.string(node)]]]],
        ]]]]
        return Pod(raw: ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec])
    }

    static func templateHash(_ daemonSet: DaemonSet) -> String { RolloutPlan.templateHash(daemonSet.raw.value(at: "spec.template") ?? [:]) }
}
