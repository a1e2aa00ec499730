import Kubernetes
import VPCNetCore

/// The `scale` subresource of Deployments and ReplicaSets: an `autoscaling/v1` `Scale` whose
/// `spec.replicas` is the workload's (what `kubectl scale` reads and writes).
extension KubeAPI {
    func scale(_ call: ResourceCall, name: String) throws(KubeStatusError) -> Reply {
        let resource = call.resource.storeKey
        switch call.method {
        case "GET":
            return .object(status: 200, Self.scale(of: try store.get(resource, namespace: call.namespace, name: name)))
        case "PUT", "PATCH":
            let body = try call.decodedBody()
            let updated = try mutateAdmitted(call, name: name) { current throws(KubeStatusError) in
                var scale = Self.scale(of: current)
                if call.method == "PUT" {
                    try call.checkKind(body, kind: "Scale", groupVersion: "autoscaling/v1")
                    if let expected = body.value(at: "metadata.resourceVersion")?.stringValue, !expected.isEmpty,
                       expected != current.value(at: "metadata.resourceVersion")?.stringValue {
                        throw .conflict(resource, name)
                    }
                    scale = body
                } else {
                    scale = try Self.patched(scale, with: body, contentType: call.contentType)
                }
                guard case .int(let count)? = scale.value(at: "spec.replicas"), count >= 0 else {
                    throw .invalid("Scale.autoscaling \"\(name)\" is invalid: spec.replicas: Invalid value: must be greater than or equal to 0")
                }
                var object = current
                object["spec"]?["replicas"] = .int(count)
                return object
            }
            return .object(status: 200, Self.scale(of: updated))
        default:
            throw call.notSupported
        }
    }

    static func scale(of object: JSONValue) -> JSONValue {
        var metadata: JSONValue = [:]
        for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] { metadata[field] = object.value(at: "metadata.\(field)") }
        let labels = (object.value(at: "spec.selector.matchLabels")?.objectValue ?? [:]).sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value.stringValue ?? "")" }.joined(separator: ",")
        return ["kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata,
                "spec": ["replicas": object.value(at: "spec.replicas") ?? 1],
                "status": ["replicas": object.value(at: "status.replicas") ?? 0, "selector": .string(labels)]]
    }

    static func patched(_ document: JSONValue, with patch: JSONValue, contentType: String) throws(KubeStatusError) -> JSONValue {
        switch contentType.split(separator: ";").first.map({ String($0).trimmingCharacters(in: .whitespaces) }) ?? "" {
        case "application/merge-patch+json": return document.mergePatched(with: patch)
        case "application/strategic-merge-patch+json": return document.strategicMergePatched(with: patch)
        case "application/json-patch+json":
            do { return try document.jsonPatched(with: patch) } catch { throw KubeStatusError(code: 422, reason: "Invalid", message: "\(error)") }
        case let type: throw KubeStatusError(code: 415, reason: "UnsupportedMediaType", message: "the patch type \(type) is not supported")
        }
    }
}
