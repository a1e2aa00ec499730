import ControllerRuntime
import Foundation
import Kubernetes
import Logging
import VPCNetCore

/// A scheduler for the simulated cluster: binds each pending pod to the Ready node with the
/// fewest pods among those whose NoSchedule/NoExecute taints it tolerates and whose `pods`
/// capacity is not used up. What it leaves unscheduled gets `FailedScheduling`, as in Kubernetes.
public final class SimScheduler: Sendable {
    let kube: KubeClient
    let pods: Informer<Pod>
    let nodes: Informer<Node>
    let events: EventRecorder
    let logger: Logger

    public init(kube: KubeClient, pods: Informer<Pod>, nodes: Informer<Node>, logger: Logger) {
        self.kube = kube
        self.pods = pods
        self.nodes = nodes
        self.logger = logger
        events = EventRecorder(client: kube, component: "default-scheduler", logger: logger)
    }

    /// The node a pod goes to, or nil with the reason (pure: unit-tested).
    public static func choose(for pod: Pod, nodes: [Node], pods: [Pod]) -> (node: String?, reason: String) {
        var reasons: [String: Int] = [:]
        var best: (name: String, load: Int)?
        for node in nodes.sorted(by: { $0.name < $1.name }) {
            guard node.isReady else { reasons["node not ready", default: 0] += 1; continue }
            guard Self.fits(pod, on: node) else { reasons["didn't match Pod's node affinity/selector", default: 0] += 1; continue }
            let blocking = node.taints.filter { ($0.effect == .noSchedule || $0.effect == .noExecute) && !pod.tolerates($0) }
            if let taint = blocking.first { reasons["untolerated taint {\(taint.key)}", default: 0] += 1; continue }
            let load = pods.count { $0.nodeName == node.name && !["Succeeded", "Failed"].contains($0.phase ?? "") }
            let capacity = Int(node.raw.value(at: "status.allocatable.pods")?.stringValue ?? "") ?? 110
            guard load < capacity else { reasons["too many pods", default: 0] += 1; continue }
            if best == nil || load < best!.load { best = (node.name, load) }
        }
        if let best { return (best.name, "") }
        let text = reasons.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        return (nil, "0/\(nodes.count) nodes are available: \(text).")
    }

    /// `spec.nodeSelector` and required node affinity (`matchExpressions` on labels, `matchFields`
    /// on `metadata.name`): a node fits if every selector label matches and any term does.
    static func fits(_ pod: Pod, on node: Node) -> Bool {
        let selector = (pod.raw.value(at: "spec.nodeSelector")?.objectValue ?? [:]).compactMapValues(\.stringValue)
        guard selector.allSatisfy({ node.labels[$0.key] == $0.value }) else { return false }
        guard let terms = pod.raw.value(at: "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")?.arrayValue,
              !terms.isEmpty else { return true }
        // A term with an operator the simulator does not know (Gt, Lt) matches no node.
        return terms.contains { term in
            let fields = term["matchFields"]?.arrayValue ?? []
            guard fields.allSatisfy({ $0["key"] == "metadata.name" }),
                  let labels = try? LabelSelector(matchExpressions: term["matchExpressions"]?.arrayValue ?? []),
                  let names = try? LabelSelector(matchExpressions: fields) else { return false }
            return labels.matches(node.labels) && names.matches(["metadata.name": node.name])
        }
    }

    public func run() async {
        await pods.waitForSync()
        await nodes.waitForSync()
        var reported: [String: String] = [:]
        while !Task.isCancelled {
            let allPods = pods.list()
            var placed = allPods
            for pod in allPods.filter({ $0.nodeName == nil && $0.raw.value(at: "metadata.deletionTimestamp") == nil })
                .sorted(by: { ($0.raw.value(at: "metadata.creationTimestamp")?.stringValue ?? "", $0.name) < ($1.raw.value(at: "metadata.creationTimestamp")?.stringValue ?? "", $1.name) }) {
                let (node, reason) = Self.choose(for: pod, nodes: nodes.list(), pods: placed)
                guard let node else {
                    let key = "\(pod.namespace ?? "")/\(pod.name)"
                    if reported[key] != reason {
                        reported[key] = reason
                        await events.record(pod, .warning, reason: "FailedScheduling", message: reason)
                    }
                    continue
                }
                do {
                    try await kube.bind(pod: pod.name, namespace: pod.namespace ?? "default", node: node)
                    var bound = pod
                    bound.nodeName = node
                    placed.removeAll { $0.uid == pod.uid }
                    placed.append(bound)
                    await events.record(pod, .normal, reason: "Scheduled", message: "Successfully assigned \(pod.namespace ?? "")/\(pod.name) to \(node)")
                } catch {
                    logger.debug("binding failed", metadata: ["pod": "\(pod.name)", "error": "\(error)"])
                }
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }
}
