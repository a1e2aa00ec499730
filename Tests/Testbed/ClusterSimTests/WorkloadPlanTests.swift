@testable import ClusterSim
import Kubernetes
import Testing
import VPCNetCore

/// What the simulated control plane's workload controllers decide, one pass at a time.
@Suite struct WorkloadPlanTests {
    static let template: JSONValue = ["metadata": ["labels": ["app": "web"]],
                                      "spec": ["restartPolicy": "Always", "containers": [["name": "app", "image": "agnhost"]]]]

    static func deployment(replicas: Int, template: JSONValue = template, strategy: JSONValue? = nil) -> Deployment {
        var deployment = Deployment(name: "web", namespace: "default")
        deployment.raw["metadata"]?["uid"] = "deploy-uid"
        deployment.raw["metadata"]?["generation"] = 2
        deployment.raw["spec"] = ["replicas": .int(Int64(replicas)), "selector": ["matchLabels": ["app": "web"]], "template": template,
                                  "revisionHistoryLimit": 1,
                                  "strategy": strategy ?? ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": "25%", "maxUnavailable": "25%"]]]
        return deployment
    }

    /// The ReplicaSet a plan creates, as the API stores it, with `available` pods reported.
    static func stored(_ set: ReplicaSet, uid: String, replicas: Int? = nil, available: Int) -> ReplicaSet {
        var set = set
        set.raw["metadata"]?["uid"] = .string(uid)
        if let replicas { set.raw["spec"]?["replicas"] = .int(Int64(replicas)) }
        set.raw["status"] = ["replicas": .int(Int64(set.replicas)), "readyReplicas": .int(Int64(available)),
                             "availableReplicas": .int(Int64(available)), "observedGeneration": 1]
        set.raw["metadata"]?["generation"] = 1
        return set
    }

    @Test func aNewDeploymentGetsOneReplicaSetNamedByItsTemplateHash() throws {
        let plan = RolloutPlan(Self.deployment(replicas: 4), replicaSets: [])
        let created = try #require(plan.creation)
        let hash = RolloutPlan.templateHash(Self.template)
        #expect(created.name == "web-\(hash)" && created.replicas == 4 && created.annotations[RolloutPlan.revisionAnnotation] == "1")
        #expect(created.raw.value(at: "spec.selector.matchLabels") == ["app": "web", "pod-template-hash": .string(hash)])
        #expect(created.raw.value(at: "spec.template.metadata.labels.pod-template-hash") == .string(hash))
        #expect(created.raw.value(at: "metadata.ownerReferences")?.arrayValue?.first?["uid"] == "deploy-uid")
        #expect(hash.allSatisfy { "bcdfghjklmnpqrstvwxz2456789".contains($0) })
    }

    @Test func aRollingUpdateStaysWithinSurgeAndUnavailabilityUntilItCompletes() throws {
        // 4 replicas, 25 %: at most 5 pods, at least 3 available, at every step.
        let first = try #require(RolloutPlan(Self.deployment(replicas: 4), replicaSets: []).creation)
        var old = Self.stored(first, uid: "old", available: 4)
        var changed = Self.template
        changed["metadata"]?["annotations"] = ["kubectl.kubernetes.io/restartedAt": "now"]
        let deployment = Self.deployment(replicas: 4, template: changed)
        var plan = RolloutPlan(deployment, replicaSets: [old])
        var new = Self.stored(try #require(plan.creation), uid: "new", available: 0)
        #expect(new.replicas == 1 && new.annotations[RolloutPlan.revisionAnnotation] == "2", "one surge pod first")
        for _ in 0..<10 {
            plan = RolloutPlan(deployment, replicaSets: [old, new])
            #expect(plan.creation == nil)
            let oldCount = plan.scale[old.name] ?? old.replicas, newCount = plan.scale[new.name] ?? new.replicas
            #expect(oldCount + newCount <= 5 && min(oldCount, old.int("status.availableReplicas")) + new.int("status.availableReplicas") >= 3)
            old = Self.stored(old, uid: "old", replicas: oldCount, available: min(oldCount, 4))
            new = Self.stored(new, uid: "new", replicas: newCount, available: newCount)  // new pods become ready each pass
        }
        #expect(old.replicas == 0 && new.replicas == 4)
        let done = RolloutPlan(deployment, replicaSets: [old, new])
        #expect(done.status["updatedReplicas"] == 4 && done.status["availableReplicas"] == 4 && done.status["observedGeneration"] == 2)
        #expect(done.status["conditions"]?.arrayValue?.last?["reason"] == "NewReplicaSetAvailable")
    }

    @Test func recreateDrainsTheOldReplicaSetBeforeTheNewOneGrows() throws {
        let recreate: JSONValue = ["type": "Recreate"]
        let first = try #require(RolloutPlan(Self.deployment(replicas: 2, strategy: recreate), replicaSets: []).creation)
        let old = Self.stored(first, uid: "old", available: 2)
        var changed = Self.template
        changed["spec"]?["containers"] = [["name": "app", "image": "agnhost:2"]]
        let deployment = Self.deployment(replicas: 2, template: changed, strategy: recreate)
        let plan = RolloutPlan(deployment, replicaSets: [old])
        #expect(plan.creation?.replicas == 0 && plan.scale[old.name] == 0)
        let new = Self.stored(try #require(plan.creation), uid: "new", available: 0)
        let drained = Self.stored(old, uid: "old", replicas: 0, available: 0)
        #expect(RolloutPlan(deployment, replicaSets: [drained, new]).scale[new.name] == 2)
    }

    @Test func aReplicaSetMakesWhatIsMissingAndRemovesTheLeastUsefulSurplus() {
        var set = ReplicaSet(name: "web-abc", namespace: "default")
        set.raw["metadata"]?["uid"] = "rs-uid"
        set.raw["spec"] = ["replicas": 2, "selector": ["matchLabels": ["app": "web"]], "template": Self.template]
        func pod(_ name: String, node: String?, ready: Bool, created: String) -> Pod {
            var pod = Pod(name: name, namespace: "default")
            pod.raw["metadata"]?["creationTimestamp"] = .string(created)
            pod.raw["metadata"]?["labels"] = ["app": "web"]
            if let node { pod.nodeName = node }
            pod.raw["status"] = ["phase": node == nil ? "Pending" : "Running", "conditions": [["type": "Ready", "status": ready ? "True" : "False"]]]
            return pod
        }
        #expect(ReplicaSetPlan(set, pods: []).creations == 2)
        let pods = [pod("a", node: "n1", ready: true, created: "2026-01-01T00:00:00Z"), pod("b", node: "n1", ready: true, created: "2026-01-02T00:00:00Z"),
                    pod("c", node: nil, ready: false, created: "2026-01-01T00:00:00Z"), pod("d", node: "n2", ready: true, created: "2026-01-03T00:00:00Z")]
        let plan = ReplicaSetPlan(set, pods: pods)
        #expect(plan.creations == 0 && plan.deletions.map(\.name) == ["c", "d"], "unscheduled first, then the youngest")
        #expect(plan.status["replicas"] == 4 && plan.status["readyReplicas"] == 3)
        let pod = ReplicaSetPlan.pod(for: set)
        #expect(pod.raw.value(at: "metadata.generateName") == "web-abc-" && pod.raw.value(at: "metadata.ownerReferences")?.arrayValue?.first?["kind"] == "ReplicaSet")
    }

    @Test func aDaemonSetRunsOnEveryNodeItToleratesAndReplacesOutdatedPodsOneAtATime() {
        var daemonSet = DaemonSet(name: "agent", namespace: "kube-system")
        daemonSet.raw["metadata"]?["uid"] = "ds-uid"
        daemonSet.raw["spec"] = ["selector": ["matchLabels": ["app": "agent"]], "template": ["metadata": ["labels": ["app": "agent"]],
                                 "spec": ["containers": [["name": "a", "image": "i"]]]],
                                 "updateStrategy": ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": 1]]]
        func node(_ name: String, taint: Taint? = nil) -> Node {
            var node = Node(name: name)
            if let taint { node.addTaint(taint) }
            return node
        }
        let nodes = [node("n1"), node("n2"), node("n3", taint: WellKnown.Taints.noInterfaceConfigured),
                     node("n4", taint: Taint(key: "node.kubernetes.io/not-ready", value: nil, effect: .noExecute))]
        let fresh = DaemonSetPlan(daemonSet, nodes: nodes, pods: [])
        #expect(fresh.creations == ["n1", "n2", "n4"], "a NoSchedule taint it does not tolerate keeps it off; not-ready is tolerated")
        let pinned = DaemonSetPlan.pod(for: daemonSet, node: "n1")
        #expect(DaemonSetPlan.node(of: pinned) == "n1" && SimScheduler.fits(pinned, on: nodes[0]) && !SimScheduler.fits(pinned, on: nodes[1]))
        // Outdated, ready pods on n1, n2, n4: one goes per pass.
        var outdated = pinned
        outdated.raw["metadata"]?["labels"]?["controller-revision-hash"] = "old"
        outdated.raw["status"] = ["phase": "Running", "conditions": [["type": "Ready", "status": "True"]]]
        let pods = ["n1", "n2", "n4"].map { name -> Pod in
            var pod = outdated
            pod.raw["metadata"]?["name"] = .string("agent-\(name)")
            pod.nodeName = name
            return pod
        }
        let rolling = DaemonSetPlan(daemonSet, nodes: nodes, pods: pods)
        #expect(rolling.creations.isEmpty && rolling.deletions.count == 1 && rolling.status["updatedNumberScheduled"] == 0)
        #expect(rolling.status["desiredNumberScheduled"] == 3 && rolling.status["numberReady"] == 3)
    }
}
