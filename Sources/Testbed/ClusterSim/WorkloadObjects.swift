import Kubernetes
import VPCNetCore

// The workload kinds the simulated control plane's controllers act on. Testbed-only: no vpcnet
// component reads them.

/// An `apps/v1` Deployment.
public struct Deployment: KubeObject {
    public static let apiVersion = "apps/v1", kind = "Deployment", resource = "deployments"
    public static let namespaced = true
    public var raw: JSONValue
    public init(raw: JSONValue) { self.raw = raw }
}

/// An `apps/v1` ReplicaSet.
public struct ReplicaSet: KubeObject {
    public static let apiVersion = "apps/v1", kind = "ReplicaSet", resource = "replicasets"
    public static let namespaced = true
    public var raw: JSONValue
    public init(raw: JSONValue) { self.raw = raw }
}

/// An `apps/v1` DaemonSet.
public struct DaemonSet: KubeObject {
    public static let apiVersion = "apps/v1", kind = "DaemonSet", resource = "daemonsets"
    public static let namespaced = true
    public var raw: JSONValue
    public init(raw: JSONValue) { self.raw = raw }
}

extension KubeObject {
    /// `spec.replicas` (1 when unset, as the API defaults it).
    var replicas: Int {
        if case .int(let count)? = raw.value(at: "spec.replicas") { return Int(count) }
        return 1
    }

    var generation: Int64 {
        if case .int(let value)? = raw.value(at: "metadata.generation") { return value }
        return 0
    }

    func int(_ path: String) -> Int {
        if case .int(let value)? = raw.value(at: path) { return Int(value) }
        return 0
    }

    /// The uid of the controller that owns this object, if any.
    var controllerUID: String? {
        (raw.value(at: "metadata.ownerReferences")?.arrayValue ?? []).first { $0["controller"] == .bool(true) }?["uid"]?.stringValue
    }

    /// An owner reference naming this object as the controller of what it makes.
    var controllerReference: JSONValue {
        ["apiVersion": .string(Self.apiVersion), "kind": .string(Self.kind), "name": .string(name), "uid": .string(uid ?? ""),
         "controller": true, "blockOwnerDeletion": true]
    }

    /// `spec.selector.matchLabels` and `matchExpressions` against a set of labels.
    func selects(_ labels: [String: String]) -> Bool {
        guard let selector = raw.value(at: "spec.selector") else { return false }
        return LabelMatching.matches(selector, labels)
    }
}

extension Pod {
    var isReady: Bool {
        (raw.value(at: "status.conditions")?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" }
    }

    var isActive: Bool { deletionTimestamp == nil && !["Succeeded", "Failed"].contains(phase ?? "") }
}

/// A `LabelSelector` (`matchLabels`, `matchExpressions`) as a JSON value, applied to labels.
enum LabelMatching {
    static func matches(_ selector: JSONValue, _ labels: [String: String]) -> Bool {
        let matchLabels = (selector["matchLabels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        guard matchLabels.allSatisfy({ labels[$0.key] == $0.value }) else { return false }
        return (selector["matchExpressions"]?.arrayValue ?? []).allSatisfy { expression in
            matchesExpression(expression, value: expression["key"]?.stringValue.flatMap { labels[$0] })
        }
    }

    /// One requirement (`In`, `NotIn`, `Exists`, `DoesNotExist`) against the value the key has, if any.
    static func matchesExpression(_ expression: JSONValue, value: String?) -> Bool {
        let values = Set((expression["values"]?.arrayValue ?? []).compactMap(\.stringValue))
        switch expression["operator"]?.stringValue ?? "" {
        case "In": return value.map(values.contains) ?? false
        case "NotIn": return value.map { !values.contains($0) } ?? true
        case "Exists": return value != nil
        case "DoesNotExist": return value == nil
        default: return false
        }
    }
}
