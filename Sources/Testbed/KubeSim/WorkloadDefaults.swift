import VPCNetCore

/// What the API server's strategies do to the workload kinds on every write: their defaults
/// (`SetDefaults_Deployment`, `_ReplicaSet`, `_DaemonSet`) and `metadata.generation`, which
/// starts at 1 and counts changes of `spec` (so `status.observedGeneration` tells a client such as
/// `kubectl rollout status` whether the controller has seen the latest one).
enum WorkloadDefaults {
    static let kinds: Set<String> = ["deployments", "replicasets", "daemonsets"]

    static func apply(_ object: inout JSONValue, old: JSONValue?, resource: String, subresource: String?) {
        guard kinds.contains(resource) else { return }
        switch resource {
        case "deployments":
            setDefault(&object, "spec.replicas", 1)
            setDefault(&object, "spec.revisionHistoryLimit", 10)
            setDefault(&object, "spec.progressDeadlineSeconds", 600)
            if object.value(at: "spec.strategy.type") == nil { object["spec"]?["strategy"] = ["type": "RollingUpdate"] }
            if object.value(at: "spec.strategy.type") == "RollingUpdate" {
                setDefault(&object, "spec.strategy.rollingUpdate.maxUnavailable", "25%")
                setDefault(&object, "spec.strategy.rollingUpdate.maxSurge", "25%")
            }
        case "replicasets":
            setDefault(&object, "spec.replicas", 1)
        default:
            setDefault(&object, "spec.revisionHistoryLimit", 10)
            if object.value(at: "spec.updateStrategy.type") == nil { object["spec"]?["updateStrategy"] = ["type": "RollingUpdate"] }
            if object.value(at: "spec.updateStrategy.type") == "RollingUpdate" {
                setDefault(&object, "spec.updateStrategy.rollingUpdate.maxUnavailable", 1)
                setDefault(&object, "spec.updateStrategy.rollingUpdate.maxSurge", 0)
            }
        }
        if object.value(at: "spec.template.spec") != nil { setDefault(&object, "spec.template.spec.restartPolicy", "Always") }
        guard let old else {
            object["metadata"]?["generation"] = 1
            return
        }
        var generation: Int64 = 1
        if case .int(let value)? = old.value(at: "metadata.generation") { generation = value }
        let specChanged = subresource != "status" && object["spec"] != old["spec"]
        object["metadata"]?["generation"] = .int(specChanged ? generation + 1 : generation)
    }

    /// Sets the dotted path (creating objects on the way) when nothing is there.
    static func setDefault(_ object: inout JSONValue, _ path: String, _ value: JSONValue) {
        guard object.value(at: path) == nil else { return }
        let keys = path.split(separator: ".").map(String.init)
        func set(_ node: inout JSONValue, _ keys: ArraySlice<String>) {
            guard let key = keys.first else { return }
            if keys.count == 1 { node[key] = value; return }
            var child = node[key] ?? [:]
            set(&child, keys.dropFirst())
            node[key] = child
        }
        set(&object, keys[...])
    }
}
