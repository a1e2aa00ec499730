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

    /// The controller that owns this object, if any (its owner reference with `controller: true`).
    var controllerOwner: (kind: String, name: String, uid: String)? {
        guard let reference = (raw.value(at: "metadata.ownerReferences")?.arrayValue ?? []).first(where: { $0["controller"] == .bool(true) }),
              let kind = reference["kind"]?.stringValue, let name = reference["name"]?.stringValue, let uid = reference["uid"]?.stringValue else { return nil }
        return (kind, name, uid)
    }

    /// Objects by the uid of the controller that owns them; those without one are left out.
    static func byController(_ objects: [Self]) -> [String: [Self]] {
        Dictionary(grouping: objects.filter { $0.controllerOwner != nil }, by: { $0.controllerOwner!.uid })
    }

    /// An owner reference naming this object as the controller of what it makes.
    var controllerReference: JSONValue {
        ["apiVersion": .string(Self.apiVersion), "kind": .string(Self.kind), "name": .string(name), "uid": .string(uid ?? ""),
         "controller": true, "blockOwnerDeletion": true]
    }
}

extension Pod {
    var isReady: Bool {
        (raw.value(at: "status.conditions")?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" }
    }

    var isActive: Bool { deletionTimestamp == nil && !["Succeeded", "Failed"].contains(phase ?? "") }
}

/// How the simulated control plane's controllers run: once their caches have synced, one
/// level-triggered pass over them every `interval`, until cancelled.
enum ControlLoop {
    static func run(after syncs: [@Sendable () async -> Void], every interval: Duration = .milliseconds(200),
                    _ pass: () async -> Void) async {
        for synced in syncs { await synced() }
        while !Task.isCancelled {
            await pass()
            try? await Task.sleep(for: interval)
        }
    }
}
