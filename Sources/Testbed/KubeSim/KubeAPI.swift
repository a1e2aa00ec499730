import Foundation
import Kubernetes
import Synchronization
import VPCNetCore

/// The Kubernetes REST API over a ``KubeStore``: paths, verbs, discovery, patches and the status
/// and binding subresources, independent of HTTP plumbing (see ``KubeAPIServer``).
public struct KubeAPI: Sendable {
    public let store: KubeStore
    public let faults = KubeFaults()
    /// Which caller (by User-Agent) used which verb on which resource: `GET /_sim/audit`.
    public let audit = AuditLog()
    /// Bearer tokens the API accepts; nil accepts every request (the default for local use).
    /// A verified client certificate is accepted too. `/_sim/tokens` replaces the set (rotation tests).
    public let tokens: SimTokens
    /// Cluster IPs and node ports of Services.
    public let services: ServiceRegistry
    /// The custom resources the stored definitions serve.
    let customResources = CustomResourceRegistry()
    /// Largest accepted request body; larger ones get `413`.
    public static let maxBodyBytes = 3 << 20

    public init(store: KubeStore, tokens: Set<String>? = nil, services: ServiceRegistry = ServiceRegistry()) {
        self.store = store
        self.tokens = SimTokens(tokens)
        self.services = services
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            _ = try? store.create("namespaces", namespace: nil, object: ["apiVersion": "v1", "kind": "Namespace",
                                                                           "metadata": ["name": .string(namespace)], "status": ["phase": "Active"]])
        }
    }

    public enum Reply: Sendable {
        case object(status: Int, JSONValue)
        case watch(AsyncStream<WatchEvent>, timeout: Duration)
        /// A document that is not JSON (the protobuf OpenAPI v2 document).
        case bytes(status: Int, contentType: String, [UInt8])
    }

    /// Who sent a request: its bearer token and whether it presented a client certificate our CA signed.
    public struct Caller: Sendable {
        public var bearerToken: String?
        public var verifiedClientCertificate: Bool
        public var userAgent: String?
        /// The `Accept` header: a `Table` is sent to a client that asks for one first (``KubeTables``).
        public var accept: String?
        public init(bearerToken: String? = nil, verifiedClientCertificate: Bool = false, userAgent: String? = nil, accept: String? = nil) {
            self.bearerToken = bearerToken
            self.verifiedClientCertificate = verifiedClientCertificate
            self.userAgent = userAgent
            self.accept = accept
        }
    }

    public func handle(method: String, path: String, query: [String: String], contentType: String?, body: [UInt8],
                       caller: Caller = Caller()) async -> Reply {
        if path.hasPrefix("/_sim/") { return control(method: method, path: path, body: body) }
        guard caller.verifiedClientCertificate || tokens.accepts(caller.bearerToken) else {
            return .object(status: 401, KubeStatusError(code: 401, reason: "Unauthorized", message: "Unauthorized").status)
        }
        let request = ResourceRequest(method: method, path: path, query: query)
        if let request {
            audit.record(AuditLog.Request(request, userAgent: caller.userAgent))
            // Faults are injected by the verbs the control API documents; a collection delete counts as delete.
            switch faults.next(verb: request.verb == .deletecollection ? "delete" : request.verb.rawValue, resource: request.resource) {
            case .status(let code)?:
                let error = KubeFaults.error(for: code)
                return .object(status: error.code, error.status)
            case .delay(let duration)?:
                try? await Task.sleep(for: duration)
            case nil:
                break
            }
        }
        do throws(KubeStatusError) {
            if method == "GET", path == "/openapi/v2" { return .bytes(status: 200, contentType: OpenAPIv2.contentType, OpenAPIv2.document) }
            if method == "GET", let document = try discovery(path.split(separator: "/").map(String.init)) { return .object(status: 200, document) }
            // A method the API has no verb for (HEAD, OPTIONS) on a resource path goes through the
            // same checks, then is not supported there.
            guard let routed = request ?? ResourceRequest(method: "GET", path: path, query: [:]) else {
                throw KubeStatusError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
            }
            var call = ResourceCall(request: routed, method: method, query: query, contentType: contentType ?? "", body: body)
            call.methodHasVerb = request != nil
            let reply = try route(call)
            guard KubeTables.wantsTable(caller.accept), let request else { return reply }
            let custom = catalog.find(group: request.group, version: request.version, name: request.resource)?.custom
            return KubeTables.asTable(reply, request: request, includeObject: query["includeObject"], custom: custom)
        } catch {
            return .object(status: error.code, error.status)
        }
    }

    /// The resource's handler for the request's verb, once the path is known to name a resource
    /// this server has, in a namespace that exists.
    func route(_ call: ResourceCall) throws(KubeStatusError) -> Reply {
        let request = call.request
        guard let resource = catalog.find(group: request.group, version: request.version, name: request.resource) else {
            throw KubeStatusError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        var call = call
        call.resource = resource
        if resource.namespaced && request.namespace == nil && request.name != nil {
            throw .badRequest("\(resource.name) are namespaced: use /namespaces/NAMESPACE/\(resource.name)/NAME")
        }
        if !resource.namespaced && request.namespace != nil { throw .notFound(resource.name, request.name ?? "") }
        if let namespace = request.namespace, resource.name != "namespaces", (try? store.get("namespaces", namespace: nil, name: namespace)) == nil,
           call.method == "POST" || call.method == "PATCH" {
            throw .notFound("namespaces", namespace)
        }
        if let subresource = request.subresource, !resource.subresources.contains(subresource) {
            throw KubeStatusError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        switch call.query["dryRun"] {
        case nil, "": call.dryRun = false
        case "All": call.dryRun = true
        case let other?: throw .badRequest("dryRun: Unsupported value: \"\(other)\": supported values: \"All\"")
        }
        if let subresource = request.subresource, subresource == "binding" ? call.method != "POST" : !["GET", "PUT", "PATCH"].contains(call.method) {
            throw KubeStatusError(code: 405, reason: "MethodNotAllowed", message: "\(call.method) is not supported on \(resource.name)/\(subresource)")
        }
        if call.method == "POST", request.name == nil, resource.namespaced, request.namespace == nil {
            throw KubeStatusError(code: 405, reason: "MethodNotAllowed", message: "create \(resource.name) in a namespace: /namespaces/NAMESPACE/\(resource.name)")
        }
        guard call.methodHasVerb, let handler = Self.handlers[request.verb] else { throw call.notSupported }
        let reply = try handler(self, call)
        if resource.storeKey == CustomResourceDefinitions.resource, !call.dryRun, ["POST", "PUT", "PATCH", "DELETE"].contains(call.method) {
            customResources.refresh(from: store)
        }
        return reply
    }

    /// What the API serves now: the built-in resources and the custom ones.
    var catalog: APICatalog { APICatalog(resources: APIResource.all + customResources.resources) }

    /// One handler per verb (`deletecollection` is not served).
    static let handlers: [ResourceRequest.Verb: @Sendable (KubeAPI, ResourceCall) throws(KubeStatusError) -> Reply] = [
        .get: { api, call throws(KubeStatusError) in try api.get(call) },
        .list: { api, call throws(KubeStatusError) in try api.list(call) },
        .watch: { api, call throws(KubeStatusError) in try api.watch(call) },
        .create: { api, call throws(KubeStatusError) in try api.create(call) },
        .update: { api, call throws(KubeStatusError) in try api.update(call) },
        .patch: { api, call throws(KubeStatusError) in try api.patch(call) },
        .delete: { api, call throws(KubeStatusError) in try api.delete(call) },
    ]
}

/// A resource request with everything its handler reads.
struct ResourceCall: Sendable {
    var request: ResourceRequest
    var method: String
    var query: [String: String]
    var contentType: String
    var body: [UInt8]
    /// Set by routing: the resource the path names, and whether the request is a dry run.
    var resource = APIResource.all[0]
    var dryRun = false
    /// False for methods no verb stands for: they are refused once the path has been checked.
    var methodHasVerb = true

    var namespace: String? { request.namespace }
    var name: String? { request.name }
    var subresource: String? { request.subresource }

    var notSupported: KubeStatusError {
        KubeStatusError(code: 405, reason: "MethodNotAllowed", message: "\(method) is not supported on this path")
    }

    func decodedBody() throws(KubeStatusError) -> JSONValue {
        guard body.count <= KubeAPI.maxBodyBytes else {
            throw KubeStatusError(code: 413, reason: "RequestEntityTooLarge", message: "the request body is too large")
        }
        if contentType.hasPrefix(KubeProtobuf.contentType) {
            do { return try KubeProtobuf.decode(body) } catch {
                throw KubeStatusError(code: 415, reason: "UnsupportedMediaType", message: "the protobuf body cannot be decoded: \(error)")
            }
        }
        do {
            return try JSONValue(parsing: body)
        } catch {
            throw .badRequest("the body is not valid JSON: \(error)")
        }
    }

    func checkKind(_ object: JSONValue) throws(KubeStatusError) {
        try checkKind(object, kind: resource.kind, groupVersion: resource.groupVersion)
    }

    func checkKind(_ object: JSONValue, kind expected: String, groupVersion: String) throws(KubeStatusError) {
        if let kind = object["kind"]?.stringValue, kind != expected {
            throw .badRequest("the body is a \(kind), not a \(expected)")
        }
        if let apiVersion = object["apiVersion"]?.stringValue, apiVersion != groupVersion {
            throw .badRequest("apiVersion \(apiVersion) does not match \(groupVersion)")
        }
    }

    func selectors() throws(KubeStatusError) -> (LabelSelector?, FieldSelector?) {
        var labels: LabelSelector?, fields: FieldSelector?
        do {
            labels = try query["labelSelector"].map(LabelSelector.init(parsing:))
            fields = try query["fieldSelector"].map(FieldSelector.init(parsing:))
        } catch {
            throw .badRequest(error.description)
        }
        return (labels, fields)
    }
}
