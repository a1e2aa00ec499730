/// RBAC (rbac/v1), disruption budgets (policy/v1) and leases (coordination/v1), from their `generated.proto`.
extension KubeProtobufSchema {
    static let access: [String: Message] = [
        "Role": [1: msg("metadata", "ObjectMeta"), 2: Field(name: "rules", type: .message("PolicyRule"), shape: .repeated, presence: .always)],
        "ClusterRole": [1: msg("metadata", "ObjectMeta"), 2: Field(name: "rules", type: .message("PolicyRule"), shape: .repeated, presence: .always),
                        3: msg("aggregationRule", "AggregationRule", .pointer)],
        "AggregationRule": [1: msgs("clusterRoleSelectors", "LabelSelector")],
        "PolicyRule": [1: Field(name: "verbs", type: .string, shape: .repeated, presence: .always), 2: strs("apiGroups"), 3: strs("resources"),
                       4: strs("resourceNames"), 5: strs("nonResourceURLs")],
        // RoleBinding and ClusterRoleBinding: the same fields.
        "RoleBinding": [1: msg("metadata", "ObjectMeta"), 2: msgs("subjects", "Subject"), 3: msg("roleRef", "RoleRef", .always)],
        "Subject": [1: str("kind", .always), 2: str("apiGroup"), 3: str("name", .always), 4: str("namespace")],
        "RoleRef": [1: str("apiGroup", .always), 2: str("kind", .always), 3: str("name", .always)],
        "PodDisruptionBudget": [1: msg("metadata", "ObjectMeta"), 2: msg("spec", "PodDisruptionBudgetSpec"), 3: msg("status", "PodDisruptionBudgetStatus")],
        "PodDisruptionBudgetSpec": [1: intOrString("minAvailable", .pointer), 2: msg("selector", "LabelSelector", .pointer),
                                    3: intOrString("maxUnavailable", .pointer), 4: str("unhealthyPodEvictionPolicy", .pointer)],
        "PodDisruptionBudgetStatus": [1: int("observedGeneration"), 2: Field(name: "disruptedPods", type: .time, shape: .map),
                                      3: int("disruptionsAllowed", .always), 4: int("currentHealthy", .always), 5: int("desiredHealthy", .always),
                                      6: int("expectedPods", .always), 7: msgs("conditions", "Condition")],
        "Lease": [1: msg("metadata", "ObjectMeta"), 2: msg("spec", "LeaseSpec")],
        "LeaseSpec": [1: str("holderIdentity", .pointer), 2: int("leaseDurationSeconds", .pointer),
                      3: Field(name: "acquireTime", type: .microTime, presence: .pointer), 4: Field(name: "renewTime", type: .microTime, presence: .pointer),
                      5: int("leaseTransitions", .pointer), 6: str("strategy", .pointer), 7: str("preferredHolder", .pointer)],
    ]
}
