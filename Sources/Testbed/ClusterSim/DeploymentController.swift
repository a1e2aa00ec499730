import ControllerRuntime
import Foundation
import Kubernetes
import Logging
import VPCNetCore

/// The Deployment controller of the simulated control plane: one ReplicaSet per pod template
/// (named by the template's hash, labelled `pod-template-hash`), rolled from old to new within
/// `maxSurge` and `maxUnavailable` (or all at once with `Recreate`), old ones kept up to
/// `revisionHistoryLimit`, and a status `kubectl rollout status` reads.
final class DeploymentController: Sendable {
    let kube: KubeClient
    let deployments: Informer<Deployment>
    let replicaSets: Informer<ReplicaSet>
    let logger: Logger

    init(kube: KubeClient, deployments: Informer<Deployment>, replicaSets: Informer<ReplicaSet>, logger: Logger) {
        self.kube = kube
        self.deployments = deployments
        self.replicaSets = replicaSets
        self.logger = logger
    }

    func run() async {
        await ControlLoop.run(after: [deployments.waitForSync, replicaSets.waitForSync]) {
            let byOwner = ReplicaSet.byController(replicaSets.list())
            for deployment in deployments.list() where deployment.deletionTimestamp == nil {
                await sync(deployment, owned: byOwner[deployment.uid ?? ""] ?? [])
            }
        }
    }

    private func sync(_ deployment: Deployment, owned: [ReplicaSet]) async {
        let plan = RolloutPlan(deployment, replicaSets: owned)
        do {
            if let created = plan.creation { _ = try await kube.create(created) }
            for (name, replicas) in plan.scale.sorted(by: { $0.key < $1.key }) {
                _ = try await kube.patch(ReplicaSet.self, namespace: deployment.namespace, name: name, .merge, ["spec": ["replicas": .int(Int64(replicas))]])
            }
            for old in plan.deletions { try await kube.delete(ReplicaSet.self, namespace: old.namespace, name: old.name, uid: old.uid) }
            if let annotation = plan.revision, deployment.annotations[RolloutPlan.revisionAnnotation] != annotation {
                _ = try await kube.patch(Deployment.self, namespace: deployment.namespace, name: deployment.name, .merge,
                                         ["metadata": ["annotations": .object([RolloutPlan.revisionAnnotation: .string(annotation)])]])
            }
            if RolloutPlan.withoutTimes(deployment.raw["status"]) != RolloutPlan.withoutTimes(plan.status) {
                _ = try await kube.patch(Deployment.self, namespace: deployment.namespace, name: deployment.name, subresource: "status", .merge,
                                         ["status": plan.status])
            }
        } catch {
            logger.debug("deployment sync failed", metadata: ["deployment": "\(deployment.name)", "error": "\(error)"])
        }
    }
}

/// What one pass does for a Deployment (pure: unit-tested): the new ReplicaSet to create, if its
/// template has none yet; the replicas each owned ReplicaSet should have; old ones to delete; the status.
struct RolloutPlan {
    static let revisionAnnotation = "deployment.kubernetes.io/revision"
    static let hashLabel = "pod-template-hash"

    var creation: ReplicaSet?
    var scale: [String: Int] = [:]
    var deletions: [ReplicaSet] = []
    var revision: String?
    var status: JSONValue = [:]

    init(_ deployment: Deployment, replicaSets: [ReplicaSet]) {
        let template = deployment.raw.value(at: "spec.template") ?? [:]
        let hash = Self.templateHash(template)
        let wanted = deployment.replicas
        var current = replicaSets.first { Self.strippedTemplate($0) == template }
        let old = replicaSets.filter { $0.uid != current?.uid }.sorted { Self.revision(of: $0) < Self.revision(of: $1) }
        let nextRevision = (replicaSets.map(Self.revision).max() ?? 0) + 1
        let recreate = deployment.raw.value(at: "spec.strategy.type") == "Recreate"
        let (surge, unavailable) = Self.limits(deployment, replicas: wanted)
        var replicas = Dictionary(uniqueKeysWithValues: replicaSets.map { ($0.name, $0.replicas) })

        if current == nil {
            var made = ReplicaSet(name: "\(deployment.name)-\(hash)", namespace: deployment.namespace)
            var podTemplate = template
            podTemplate["metadata"]?["labels"]?[Self.hashLabel] = .string(hash)
            if podTemplate.value(at: "metadata.labels") == nil { podTemplate["metadata"] = ["labels": .object([Self.hashLabel: .string(hash)])] }
            var selector = deployment.raw.value(at: "spec.selector") ?? [:]
            selector["matchLabels"]?[Self.hashLabel] = .string(hash)
            if selector["matchLabels"] == nil { selector["matchLabels"] = .object([Self.hashLabel: .string(hash)]) }
            let anyOldRunning = old.contains { $0.replicas > 0 }
            let initial = recreate && anyOldRunning ? 0 : (anyOldRunning ? min(wanted, max(0, wanted + surge - old.reduce(0) { $0 + $1.replicas })) : wanted)
            made.raw["metadata"]?["labels"] = podTemplate.value(at: "metadata.labels")
            made.raw["metadata"]?["annotations"] = .object([Self.revisionAnnotation: .string(String(nextRevision))])
            made.raw["metadata"]?["ownerReferences"] = [deployment.controllerReference]
            made.raw["spec"] = ["replicas": .int(Int64(initial)), "selector": selector, "template": podTemplate]
            creation = made
            revision = String(nextRevision)
            current = made
            replicas[made.name] = initial
        } else if let current {
            revision = String(Self.revision(of: current))
        }
        guard let new = current else { return }
        let available = { (set: ReplicaSet) in set.int("status.availableReplicas") }
        if recreate {
            if old.contains(where: { replicas[$0.name, default: 0] > 0 }) {
                for set in old { replicas[set.name] = 0 }
            } else if old.allSatisfy({ $0.int("status.replicas") == 0 }) {
                replicas[new.name] = wanted
            }
        } else {
            // Up: the new ReplicaSet grows while the total stays within replicas + maxSurge.
            let total = replicas.values.reduce(0, +)
            let newCount = replicas[new.name, default: 0]
            if newCount > wanted {
                replicas[new.name] = wanted
            } else if total < wanted + surge {
                replicas[new.name] = min(wanted, newCount + (wanted + surge - total))
            }
            // Down: old ReplicaSets shrink as far as availability stays at replicas - maxUnavailable,
            // their unavailable pods first (losing them costs no availability).
            var budget = old.reduce(0) { $0 + available($1) } + available(new) - (wanted - unavailable)
            for set in old where replicas[set.name, default: 0] > available(set) {
                replicas[set.name] = available(set)
            }
            for set in old where budget > 0 && replicas[set.name, default: 0] > 0 {
                let cut = min(budget, replicas[set.name, default: 0])
                replicas[set.name, default: 0] -= cut
                budget -= cut
            }
        }
        for set in replicaSets where replicas[set.name] != set.replicas { scale[set.name] = replicas[set.name] }
        // History: drained old ReplicaSets beyond revisionHistoryLimit go, oldest first.
        let limit = deployment.int("spec.revisionHistoryLimit")
        let drained = old.filter { replicas[$0.name] == 0 && $0.int("status.replicas") == 0 }
        if drained.count > limit { deletions = Array(drained.prefix(drained.count - limit)) }
        status = Self.status(deployment, new: new, all: replicaSets + (creation.map { [$0] } ?? []), unavailable: unavailable)
    }

    static func status(_ deployment: Deployment, new: ReplicaSet, all: [ReplicaSet], unavailable: Int) -> JSONValue {
        let wanted = deployment.replicas
        let replicas = all.reduce(0) { $0 + $1.int("status.replicas") }
        let updated = new.int("status.replicas")
        let ready = all.reduce(0) { $0 + $1.int("status.readyReplicas") }
        let available = all.reduce(0) { $0 + $1.int("status.availableReplicas") }
        let specTotal = all.reduce(0) { $0 + $1.replicas }
        let complete = updated == wanted && replicas == wanted && available == wanted && new.int("status.observedGeneration") >= Int(new.generation)
        let now = ISO8601DateFormatter().string(from: Date())
        let isAvailable = available >= wanted - unavailable
        func condition(_ type: String, _ ok: Bool, _ reason: String, _ message: String) -> JSONValue {
            ["type": .string(type), "status": ok ? "True" : "False", "reason": .string(reason), "message": .string(message),
             "lastUpdateTime": .string(now), "lastTransitionTime": .string(now)]
        }
        return [
            "observedGeneration": .int(deployment.generation), "replicas": .int(Int64(replicas)), "updatedReplicas": .int(Int64(updated)),
            "readyReplicas": .int(Int64(ready)), "availableReplicas": .int(Int64(available)),
            "unavailableReplicas": .int(Int64(max(0, specTotal - available))),
            "conditions": [
                condition("Available", isAvailable, isAvailable ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                          isAvailable ? "Deployment has minimum availability." : "Deployment does not have minimum availability."),
                condition("Progressing", true, complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                          complete ? "ReplicaSet \"\(new.name)\" has successfully progressed." : "ReplicaSet \"\(new.name)\" is progressing."),
            ],
        ]
    }

    /// A status compared without its timestamps, so an unchanged status is not written again.
    static func withoutTimes(_ status: JSONValue?) -> JSONValue? {
        guard var status else { return nil }
        status["conditions"] = status["conditions"]?.arrayValue.map { conditions in
            .array(conditions.map { var c = $0; c["lastUpdateTime"] = nil; c["lastTransitionTime"] = nil; return c })
        }
        return status
    }

    /// `maxSurge` rounded up and `maxUnavailable` rounded down from a count or a percentage of
    /// `replicas`; both zero would stall a rollout, so unavailable becomes 1 then.
    static func limits(_ deployment: Deployment, replicas: Int) -> (surge: Int, unavailable: Int) {
        func value(_ path: String, roundUp: Bool) -> Int {
            switch deployment.raw.value(at: path) {
            case .int(let count)?: return Int(count)
            case .string(let text)? where text.hasSuffix("%"):
                let percent = Double(text.dropLast()) ?? 0
                let exact = percent * Double(replicas) / 100
                return Int(roundUp ? exact.rounded(.up) : exact.rounded(.down))
            default: return 0
            }
        }
        let surge = value("spec.strategy.rollingUpdate.maxSurge", roundUp: true)
        let unavailable = value("spec.strategy.rollingUpdate.maxUnavailable", roundUp: false)
        return (surge, surge == 0 && unavailable == 0 ? 1 : unavailable)
    }

    static func revision(of set: ReplicaSet) -> Int { Int(set.annotations[revisionAnnotation] ?? "") ?? 0 }

    /// The ReplicaSet's template without the hash label: what the Deployment's template is compared with.
    static func strippedTemplate(_ set: ReplicaSet) -> JSONValue {
        var template = set.raw.value(at: "spec.template") ?? [:]
        template["metadata"]?["labels"]?[hashLabel] = nil
        return template
    }

    /// FNV-32a of the template, written with the API machinery's safe alphabet (no vowels, no
    /// look-alikes), as the controller names ReplicaSets; the bytes hashed are the template's
    /// JSON, not Go's object dump, so the names differ from a real cluster's.
    static func templateHash(_ template: JSONValue) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in template.serialized().utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String(String(hash).utf8.map { alphabet[Int($0) % alphabet.count] })
    }
}
