import VPCNetCore

/// The checks the API server makes that a manifest most often fails, for the kinds vpcnet
/// deploys: names, pod templates and selectors, RBAC rules and references, disruption budgets.
/// Not the API server's whole validation (there is no schema here), but each rule below is one
/// of its rules, with its field path in the message.
enum KubeValidation {
    static func validate(_ object: JSONValue, as resource: APIResource, also more: [String] = []) throws(KubeStatusError) {
        var problems: [String] = []
        // RBAC names are path segments (`system:node-proxier`); other kinds' are DNS subdomains.
        let rbac = ["ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"].contains(resource.kind)
        if !rbac, let name = object.value(at: "metadata.name")?.stringValue, !isSubdomain(name) {
            problems.append("metadata.name: Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'")
        }
        switch resource.kind {
        case "Deployment", "ReplicaSet", "DaemonSet": problems += workload(object)
        case "ClusterRole", "Role": problems += rules(object)
        case "ClusterRoleBinding", "RoleBinding": problems += binding(object)
        case "PodDisruptionBudget": problems += disruptionBudget(object)
        default: break
        }
        problems += more
        guard problems.isEmpty else {
            let name = object.value(at: "metadata.name")?.stringValue ?? ""
            throw .invalid("\(resource.kind) \"\(name)\" is invalid: \(problems.joined(separator: ", "))")
        }
    }

    static func isSubdomain(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 253, let first = name.first, let last = name.last else { return false }
        let allowed = name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" || $0 == "." }
        return allowed && (first.isLowercase || first.isNumber) && (last.isLowercase || last.isNumber)
    }

    static func workload(_ object: JSONValue) -> [String] {
        var problems: [String] = []
        let selector = object.value(at: "spec.selector.matchLabels")?.objectValue ?? [:]
        let labels = object.value(at: "spec.template.metadata.labels")?.objectValue ?? [:]
        if selector.isEmpty && object.value(at: "spec.selector.matchExpressions") == nil {
            problems.append("spec.selector: Required value")
        }
        for (key, value) in selector where labels[key] != value {
            problems.append("spec.template.metadata.labels: Invalid value: selector does not match template labels (\(key))")
        }
        problems += podSpec(object.value(at: "spec.template.spec"), path: "spec.template.spec")
        if let policy = object.value(at: "spec.template.spec.restartPolicy")?.stringValue, policy != "Always" {
            problems.append("spec.template.spec.restartPolicy: Unsupported value: \"\(policy)\": supported values: \"Always\"")
        }
        return problems
    }

    static func podSpec(_ spec: JSONValue?, path: String) -> [String] {
        var problems: [String] = []
        let containers = spec?["containers"]?.arrayValue ?? []
        if containers.isEmpty { problems.append("\(path).containers: Required value") }
        var names: Set<String> = []
        let volumes = Set((spec?["volumes"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue })
        for (group, list) in [("initContainers", spec?["initContainers"]?.arrayValue ?? []), ("containers", containers)] {
            for (index, container) in list.enumerated() {
                let at = "\(path).\(group)[\(index)]"
                guard let name = container["name"]?.stringValue, !name.isEmpty else {
                    problems.append("\(at).name: Required value")
                    continue
                }
                if !names.insert(name).inserted { problems.append("\(at).name: Duplicate value: \"\(name)\"") }
                if (container["image"]?.stringValue ?? "").isEmpty { problems.append("\(at).image: Required value") }
                for mount in container["volumeMounts"]?.arrayValue ?? [] {
                    let volume = mount["name"]?.stringValue ?? ""
                    if !volumes.contains(volume) { problems.append("\(at).volumeMounts.name: Not found: \"\(volume)\"") }
                    if (mount["mountPath"]?.stringValue ?? "").isEmpty { problems.append("\(at).volumeMounts.mountPath: Required value") }
                }
            }
        }
        return problems
    }

    static func rules(_ object: JSONValue) -> [String] {
        var problems: [String] = []
        for (index, rule) in (object["rules"]?.arrayValue ?? []).enumerated() {
            if (rule["verbs"]?.arrayValue ?? []).isEmpty { problems.append("rules[\(index)].verbs: Required value: verbs must contain at least one value") }
            if rule["nonResourceURLs"] == nil, (rule["apiGroups"]?.arrayValue ?? []).isEmpty {
                problems.append("rules[\(index)].apiGroups: Required value: resource rules must supply at least one api group")
            }
        }
        return problems
    }

    static func binding(_ object: JSONValue) -> [String] {
        var problems: [String] = []
        let kind = object.value(at: "roleRef.kind")?.stringValue ?? ""
        if !["Role", "ClusterRole"].contains(kind) { problems.append("roleRef.kind: Unsupported value: \"\(kind)\": supported values: \"Role\", \"ClusterRole\"") }
        if (object.value(at: "roleRef.name")?.stringValue ?? "").isEmpty { problems.append("roleRef.name: Required value") }
        if object.value(at: "roleRef.apiGroup")?.stringValue != "rbac.authorization.k8s.io" {
            problems.append("roleRef.apiGroup: Unsupported value: supported values: \"rbac.authorization.k8s.io\"")
        }
        for (index, subject) in (object["subjects"]?.arrayValue ?? []).enumerated() where subject["kind"]?.stringValue == "ServiceAccount" {
            if (subject["namespace"]?.stringValue ?? "").isEmpty { problems.append("subjects[\(index)].namespace: Required value") }
        }
        return problems
    }

    static func disruptionBudget(_ object: JSONValue) -> [String] {
        var problems: [String] = []
        if object.value(at: "spec.minAvailable") != nil && object.value(at: "spec.maxUnavailable") != nil {
            problems.append("spec: Invalid value: minAvailable and maxUnavailable cannot be both set")
        }
        return problems
    }
}
