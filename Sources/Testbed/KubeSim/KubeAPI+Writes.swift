import Foundation
import Kubernetes
import Synchronization
import VPCNetCore

/// The write verbs: create (and a pod's binding), update, patch (three patch types and
/// server-side apply), delete.
extension KubeAPI {
    func create(_ call: ResourceCall) throws(KubeStatusError) -> Reply {
        if let name = call.name {
            guard call.subresource == "binding" else { throw call.notSupported }
            return try bind(call, name: name)
        }
        var object = try call.decodedBody()
        try call.checkKind(object)
        object["kind"] = .string(call.resource.kind)
        object["apiVersion"] = .string(call.resource.groupVersion)
        if let generate = object.value(at: "metadata.generateName")?.stringValue, object.value(at: "metadata.name") == nil {
            object["metadata"]?["name"] = .string(generate + String(UUID().uuidString.lowercased().prefix(5)))
        }
        if let bodyNamespace = object.value(at: "metadata.namespace")?.stringValue, let namespace = call.namespace, bodyNamespace != namespace {
            throw .badRequest("the namespace of the object (\(bodyNamespace)) does not match the namespace of the request (\(namespace))")
        }
        if !call.resource.namespaced, object["metadata"]?["namespace"] != nil { object["metadata"]?["namespace"] = nil }
        return .object(status: 201, try createAdmitted(call, object))
    }

    /// Validates, admits and stores a new object; the admission is undone if the store refuses it.
    func createAdmitted(_ call: ResourceCall, _ object: JSONValue) throws(KubeStatusError) -> JSONValue {
        var object = try call.validated(object, old: nil)
        let undo = try admit(&object, old: nil, call: call)
        do {
            return try store.create(call.resource.storeKey, namespace: call.resource.namespaced ? call.namespace : nil, object: object, dryRun: call.dryRun)
        } catch {
            undo()
            throw error
        }
    }

    /// The registry's part of a write: workloads get their defaults and generation
    /// (``WorkloadDefaults``), a new namespace its phase, a Service its defaults and allocations
    /// (``ServiceRegistry``).
    /// Returns what undoes the allocations' record if the write then fails.
    func admit(_ object: inout JSONValue, old: JSONValue?, call: ResourceCall) throws(KubeStatusError) -> @Sendable () -> Void {
        WorkloadDefaults.apply(&object, old: old, resource: call.resource.storeKey, subresource: call.subresource)
        if call.resource.custom != nil { CustomResourceDefinitions.countGeneration(&object, old: old) }
        if call.resource.storeKey == CustomResourceDefinitions.resource {
            CustomResourceDefinitions.admit(&object, old: old, now: Date().formatted(.iso8601))
            CustomResourceDefinitions.countGeneration(&object, old: old)
        }
        if call.resource.name == "namespaces", old == nil {
            // The namespace strategy's PrepareForCreate: active, with the `kubernetes` finalizer.
            object["status"] = ["phase": "Active"]
            object["spec"] = ["finalizers": ["kubernetes"]]
        }
        guard call.resource.name == "services", let name = object.value(at: "metadata.name")?.stringValue else { return {} }
        return try services.admit(&object, old: old, key: "\(call.namespace ?? "")/\(name)", dryRun: call.dryRun)
    }

    /// Runs `change` as a store mutation, admitting its result, and undoes the admission if the write fails.
    func mutateAdmitted(_ call: ResourceCall, name: String,
                        _ change: (JSONValue) throws(KubeStatusError) -> JSONValue) throws(KubeStatusError) -> JSONValue {
        let undo = Mutex<@Sendable () -> Void>({})
        do {
            return try store.mutate(call.resource.storeKey, namespace: call.namespace, name: name, dryRun: call.dryRun) { current throws(KubeStatusError) in
                var result = try change(current)
                let admitted = try admit(&result, old: current, call: call)
                undo.withLock { $0 = admitted }
                return result
            }
        } catch {
            undo.withLock { $0 }()
            throw error
        }
    }

    /// `POST …/pods/NAME/binding`: the scheduler's decision.
    func bind(_ call: ResourceCall, name: String) throws(KubeStatusError) -> Reply {
        let binding = try call.decodedBody()
        guard let node = binding.value(at: "target.name")?.stringValue, !node.isEmpty else { throw .invalid("target.name: Required value") }
        _ = try store.mutate(call.resource.storeKey, namespace: call.namespace, name: name) { object throws(KubeStatusError) in
            var pod = Pod(raw: object)
            if let bound = pod.nodeName, !bound.isEmpty {
                throw KubeStatusError(code: 409, reason: "Conflict", message: "pod \(name) is already assigned to node \"\(bound)\"")
            }
            pod.nodeName = node
            return pod.raw
        }
        return .object(status: 201, ["kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201])
    }

    func update(_ call: ResourceCall) throws(KubeStatusError) -> Reply {
        guard let name = call.name else { throw call.notSupported }
        if call.subresource == "scale" { return try scale(call, name: name) }
        let sub = call.subresource
        let object = try call.decodedBody()
        try call.checkKind(object)
        if let bodyName = object.value(at: "metadata.name")?.stringValue, bodyName != name {
            throw .badRequest("the name of the object (\(bodyName)) does not match the name in the URL (\(name))")
        }
        let hasStatus = call.resource.subresources.contains("status")
        return .object(status: 200, try mutateAdmitted(call, name: name) { current throws(KubeStatusError) in
            if let expected = object.value(at: "metadata.resourceVersion")?.stringValue, !expected.isEmpty,
               expected != current.value(at: "metadata.resourceVersion")?.stringValue {
                throw .conflict(call.resource.storeKey, name)
            }
            var result = object
            result["kind"] = .string(call.resource.kind)
            result["apiVersion"] = .string(call.resource.groupVersion)
            // With a status subresource, the main resource ignores status and /status changes only status.
            if hasStatus && sub == nil { result["status"] = current["status"] }
            if sub == "status" {
                var keep = current
                keep["status"] = object["status"]
                result = keep
            }
            return try call.validated(result, old: current)
        })
    }

    func patch(_ call: ResourceCall) throws(KubeStatusError) -> Reply {
        guard let name = call.name else { throw call.notSupported }
        if call.subresource == "scale" { return try scale(call, name: name) }
        if call.subresource == nil, call.contentType.hasPrefix("application/apply-patch+yaml") { return try apply(call, name: name) }
        let sub = call.subresource, resource = call.resource
        let patch = try call.decodedBody()
        let type = call.contentType.split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        let hasStatus = resource.subresources.contains("status")
        return .object(status: 200, try mutateAdmitted(call, name: name) { current throws(KubeStatusError) in
            var patched: JSONValue
            switch type {
            case "application/merge-patch+json": patched = current.mergePatched(with: patch)
            case "application/strategic-merge-patch+json": patched = current.strategicMergePatched(with: patch)
            case "application/json-patch+json":
                do { patched = try current.jsonPatched(with: patch) } catch {
                    throw KubeStatusError(code: 422, reason: "Invalid", message: "\(error)")
                }
            default:
                throw KubeStatusError(code: 415, reason: "UnsupportedMediaType", message: "the patch type \(type) is not supported")
            }
            // A resourceVersion left in the patched document makes the patch conditional.
            if let requested = patched.value(at: "metadata.resourceVersion")?.stringValue, !requested.isEmpty,
               requested != current.value(at: "metadata.resourceVersion")?.stringValue {
                throw .conflict(resource.storeKey, name)
            }
            if hasStatus && sub == nil { patched["status"] = current["status"] }
            if sub == "status" {
                var keep = current
                keep["status"] = patched["status"]
                patched = keep
            }
            return try call.validated(patched, old: current)
        })
    }

    /// Server-side apply, approximated: a missing object is created from the applied
    /// configuration; an existing one takes it as a strategic merge patch. Field ownership is not
    /// tracked. kubectl sends the configuration as JSON, which is YAML too.
    func apply(_ call: ResourceCall, name: String) throws(KubeStatusError) -> Reply {
        guard let manager = call.query["fieldManager"], !manager.isEmpty else {
            throw .badRequest("PATCH: fieldManager is required for apply requests")
        }
        var applied = try call.decodedBody()
        try call.checkKind(applied)
        if let bodyName = applied.value(at: "metadata.name")?.stringValue, bodyName != name {
            throw .badRequest("the name of the object (\(bodyName)) does not match the name in the URL (\(name))")
        }
        applied["kind"] = .string(call.resource.kind)
        applied["apiVersion"] = .string(call.resource.groupVersion)
        if (try? store.get(call.resource.storeKey, namespace: call.namespace, name: name)) == nil {
            applied["metadata"]?["name"] = .string(name)
            return .object(status: 201, try createAdmitted(call, applied))
        }
        return .object(status: 200, try mutateAdmitted(call, name: name) { current throws(KubeStatusError) in
            var merged = current.strategicMergePatched(with: applied)
            if call.resource.subresources.contains("status") { merged["status"] = current["status"] }
            return try call.validated(merged, old: current)
        })
    }

    func delete(_ call: ResourceCall) throws(KubeStatusError) -> Reply {
        guard let name = call.name, call.subresource == nil else { throw call.notSupported }
        if call.dryRun {
            return .object(status: 200, try store.get(call.resource.storeKey, namespace: call.namespace, name: name))
        }
        var uid: String?, version: String?
        if !call.body.isEmpty {
            let options = try call.decodedBody()
            uid = options.value(at: "preconditions.uid")?.stringValue
            version = options.value(at: "preconditions.resourceVersion")?.stringValue
        }
        let deleted = try store.delete(call.resource.storeKey, namespace: call.namespace, name: name, preconditionUID: uid,
                                       preconditionResourceVersion: version)
        if call.resource.name == "services" { services.release(key: "\(call.namespace ?? "")/\(name)") }
        if call.resource.storeKey == CustomResourceDefinitions.resource { deleteInstances(of: deleted) }
        return .object(status: 200, deleted)
    }

    /// A definition's objects go with it (the API server's finalizer deletes them before the
    /// definition; here at once, after it).
    private func deleteInstances(of definition: JSONValue) {
        guard let resource = CustomResourceDefinitions.servedResources(definition).first else { return }
        for object in (try? store.list(resource.storeKey, namespace: nil).items) ?? [] {
            guard let name = object.value(at: "metadata.name")?.stringValue else { continue }
            _ = try? store.delete(resource.storeKey, namespace: object.value(at: "metadata.namespace")?.stringValue, name: name)
        }
    }
}

extension ResourceCall {
    /// The object as it will be stored, once the API server's checks pass: a custom resource
    /// defaulted and pruned by its schema (unknown fields refused under `fieldValidation=Strict`,
    /// as kubectl asks), every kind through ``KubeValidation``.
    func validated(_ object: JSONValue, old: JSONValue?) throws(KubeStatusError) -> JSONValue {
        guard let custom = resource.custom else {
            let more = resource.storeKey == CustomResourceDefinitions.resource ? CustomResourceDefinitions.problems(object, old: old) : []
            try KubeValidation.validate(object, as: resource, also: more)
            return object
        }
        let outcome = StructuralSchema.check(object, schema: custom.schema)
        if !outcome.unknown.isEmpty, query["fieldValidation"] == "Strict" {
            let fields = outcome.unknown.map { "unknown field \"\($0)\"" }.joined(separator: ", ")
            throw .badRequest("\(resource.kind) in version \"\(resource.version)\" cannot be handled as a \(resource.kind): strict decoding error: \(fields)")
        }
        try KubeValidation.validate(outcome.object, as: resource, also: outcome.problems)
        return outcome.object
    }
}
