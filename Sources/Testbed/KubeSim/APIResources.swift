import Kubernetes
import VPCNetCore

/// A resource the simulator serves, with what discovery tells clients about it.
struct APIResource: Sendable {
    var name: String
    var singular: String
    var kind: String
    var group: String
    var version: String
    var namespaced: Bool
    var shortNames: [String]
    var subresources: [String]
    /// What a CustomResourceDefinition says of a custom resource's version; nil for built-in kinds.
    var custom: CustomResource? = nil

    var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    /// Where the store keeps the objects: built-in kinds by their plural, custom ones by
    /// `plural.group` (as the API server names them in errors), so groups never collide.
    var storeKey: String { custom == nil ? name : "\(name).\(group)" }
    var openAPIGroupVersion: String { group.isEmpty ? "api/\(version)" : "apis/\(group)/\(version)" }

    static let all: [APIResource] = [
        .init(name: "nodes", singular: "node", kind: "Node", group: "", version: "v1", namespaced: false, shortNames: ["no"], subresources: ["status"]),
        .init(name: "pods", singular: "pod", kind: "Pod", group: "", version: "v1", namespaced: true, shortNames: ["po"],
              subresources: ["status", "binding"]),
        .init(name: "events", singular: "event", kind: "Event", group: "", version: "v1", namespaced: true, shortNames: ["ev"], subresources: []),
        .init(name: "configmaps", singular: "configmap", kind: "ConfigMap", group: "", version: "v1", namespaced: true, shortNames: ["cm"],
              subresources: []),
        .init(name: "namespaces", singular: "namespace", kind: "Namespace", group: "", version: "v1", namespaced: false, shortNames: ["ns"],
              subresources: ["status"]),
        .init(name: "services", singular: "service", kind: "Service", group: "", version: "v1", namespaced: true, shortNames: ["svc"],
              subresources: ["status"]),
        .init(name: "endpointslices", singular: "endpointslice", kind: "EndpointSlice", group: "discovery.k8s.io", version: "v1", namespaced: true,
              shortNames: [], subresources: []),
        .init(name: "leases", singular: "lease", kind: "Lease", group: "coordination.k8s.io", version: "v1", namespaced: true, shortNames: [],
              subresources: []),
        // What vpcnet's manifests hold, so they can be applied (and dry-run) here, and the
        // workloads; checked (``KubeValidation``). The simulated cluster's controllers act on the
        // workloads (Deployments, ReplicaSets, DaemonSets); the API server alone only stores them.
        .init(name: "serviceaccounts", singular: "serviceaccount", kind: "ServiceAccount", group: "", version: "v1", namespaced: true,
              shortNames: ["sa"], subresources: []),
        .init(name: "clusterroles", singular: "clusterrole", kind: "ClusterRole", group: "rbac.authorization.k8s.io", version: "v1",
              namespaced: false, shortNames: [], subresources: []),
        .init(name: "clusterrolebindings", singular: "clusterrolebinding", kind: "ClusterRoleBinding", group: "rbac.authorization.k8s.io",
              version: "v1", namespaced: false, shortNames: [], subresources: []),
        .init(name: "roles", singular: "role", kind: "Role", group: "rbac.authorization.k8s.io", version: "v1", namespaced: true,
              shortNames: [], subresources: []),
        .init(name: "rolebindings", singular: "rolebinding", kind: "RoleBinding", group: "rbac.authorization.k8s.io", version: "v1",
              namespaced: true, shortNames: [], subresources: []),
        .init(name: "deployments", singular: "deployment", kind: "Deployment", group: "apps", version: "v1", namespaced: true,
              shortNames: ["deploy"], subresources: ["status", "scale"]),
        .init(name: "replicasets", singular: "replicaset", kind: "ReplicaSet", group: "apps", version: "v1", namespaced: true,
              shortNames: ["rs"], subresources: ["status", "scale"]),
        .init(name: "daemonsets", singular: "daemonset", kind: "DaemonSet", group: "apps", version: "v1", namespaced: true,
              shortNames: ["ds"], subresources: ["status"]),
        .init(name: "poddisruptionbudgets", singular: "poddisruptionbudget", kind: "PodDisruptionBudget", group: "policy", version: "v1",
              namespaced: true, shortNames: ["pdb"], subresources: ["status"]),
        // Custom resources: each CRD's served versions join the catalog (``APICatalog``).
        .init(name: "customresourcedefinitions", singular: "customresourcedefinition", kind: "CustomResourceDefinition",
              group: "apiextensions.k8s.io", version: "v1", namespaced: false, shortNames: ["crd", "crds"], subresources: ["status"]),
    ]
}

/// The resources the API serves now: the built-in ones and every served version of every
/// established CustomResourceDefinition, with the discovery and OpenAPI documents kubectl reads.
struct APICatalog: Sendable {
    var resources: [APIResource]

    func find(group: String, version: String, name: String) -> APIResource? {
        resources.first { $0.group == group && $0.version == version && $0.name == name }
    }

    /// The versions of `group`, the preferred (a CRD's storage version, else the first) first.
    func versions(of group: String) -> [String] {
        var seen: [String] = []
        for resource in resources where resource.group == group && !seen.contains(resource.version) {
            if resource.custom?.isStorage == true { seen.insert(resource.version, at: 0) } else { seen.append(resource.version) }
        }
        return seen
    }

    /// `APIResourceList` for one group/version, as `GET /api/v1` returns it.
    func resourceList(group: String, version: String) -> JSONValue? {
        let resources = resources.filter { $0.group == group && $0.version == version }
        guard !resources.isEmpty else { return nil }
        var entries: [JSONValue] = []
        for resource in resources {
            var entry: JSONValue = [
                "name": .string(resource.name), "singularName": .string(resource.singular), "namespaced": .bool(resource.namespaced),
                "kind": .string(resource.kind),
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                "shortNames": .array(resource.shortNames.map(JSONValue.string)),
            ]
            if let categories = resource.custom?.categories, !categories.isEmpty { entry["categories"] = .array(categories.map(JSONValue.string)) }
            entries.append(entry)
            for sub in resource.subresources {
                let verbs: JSONValue = sub == "binding" ? ["create"] : ["get", "patch", "update"]
                var entry: JSONValue = ["name": .string("\(resource.name)/\(sub)"), "singularName": "", "namespaced": .bool(resource.namespaced),
                                        "kind": .string(["binding": "Binding", "scale": "Scale"][sub] ?? resource.kind), "verbs": verbs]
                if sub == "scale" { entry["group"] = "autoscaling"; entry["version"] = "v1" }
                entries.append(entry)
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(resources[0].groupVersion),
                "resources": .array(entries)]
    }

    /// `GET /openapi/v3`: one entry per group/version. kubectl reads it to learn that the server
    /// validates fields itself (`fieldValidation`), so it needs no schemas from us.
    var openAPIIndex: JSONValue {
        var paths: [String: JSONValue] = [:]
        for groupVersion in Set(resources.map(\.openAPIGroupVersion)) {
            paths[groupVersion] = ["serverRelativeURL": .string("/openapi/v3/\(groupVersion)?hash=vpcnet-sim-\(resources.count)")]
        }
        return ["paths": .object(paths)]
    }

    /// `GET /openapi/v3/<group-version>`: the create and patch operations, each declaring the
    /// `fieldValidation` parameter with its group/version/kind.
    func openAPIDocument(_ groupVersion: String) -> JSONValue? {
        let resources = resources.filter { $0.openAPIGroupVersion == groupVersion }
        guard !resources.isEmpty else { return nil }
        var paths: [String: JSONValue] = [:]
        for resource in resources {
            let prefix = "/" + groupVersion + (resource.namespaced ? "/namespaces/{namespace}" : "")
            let gvk: JSONValue = ["group": .string(resource.group), "version": .string(resource.version), "kind": .string(resource.kind)]
            let parameters: JSONValue = [["name": "fieldValidation", "in": "query", "schema": ["type": "string"]],
                                         ["name": "dryRun", "in": "query", "schema": ["type": "string"]]]
            // kubectl looks for the parameter on the PATCH operation of the kind.
            let create: JSONValue = ["x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "post", "parameters": parameters,
                                     "responses": ["201": ["description": "Created"]]]
            let patch: JSONValue = ["x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch", "parameters": parameters,
                                    "responses": ["200": ["description": "OK"]]]
            paths["\(prefix)/\(resource.name)"] = ["post": create]
            paths["\(prefix)/\(resource.name)/{name}"] = ["patch": patch]
        }
        return ["openapi": "3.0.0", "info": ["title": "vpcnet-sim", "version": "v1.32.0"], "paths": .object(paths),
                "components": ["schemas": [:]]]
    }

    var groupList: JSONValue {
        let groups = Set(resources.map(\.group)).subtracting([""]).sorted()
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups.compactMap(group))]
    }

    func group(_ name: String) -> JSONValue? {
        let versions = versions(of: name)
        guard let preferred = versions.first else { return nil }
        func entry(_ version: String) -> JSONValue { ["groupVersion": .string("\(name)/\(version)"), "version": .string(version)] }
        return ["kind": "APIGroup", "apiVersion": "v1", "name": .string(name), "versions": .array(versions.map(entry)),
                "preferredVersion": entry(preferred)]
    }
}
