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
    /// Largest accepted request body; larger ones get `413`.
    public static let maxBodyBytes = 3 << 20

    public init(store: KubeStore, tokens: Set<String>? = nil) {
        self.store = store
        self.tokens = SimTokens(tokens)
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            _ = try? store.create("namespaces", namespace: nil, object: ["apiVersion": "v1", "kind": "Namespace",
                                                                           "metadata": ["name": .string(namespace)], "status": ["phase": "Active"]])
        }
    }

    public enum Reply: Sendable {
        case object(status: Int, JSONValue)
        case watch(AsyncStream<WatchEvent>, timeout: Duration)
    }

    /// Who sent a request: its bearer token and whether it presented a client certificate our CA signed.
    public struct Caller: Sendable {
        public var bearerToken: String?
        public var verifiedClientCertificate: Bool
        public var userAgent: String?
        public init(bearerToken: String? = nil, verifiedClientCertificate: Bool = false, userAgent: String? = nil) {
            self.bearerToken = bearerToken
            self.verifiedClientCertificate = verifiedClientCertificate
            self.userAgent = userAgent
        }
    }

    public func handle(method: String, path: String, query: [String: String], contentType: String?, body: [UInt8],
                       caller: Caller = Caller()) async -> Reply {
        if path.hasPrefix("/_sim/") { return control(method: method, path: path, body: body) }
        guard caller.verifiedClientCertificate || tokens.accepts(caller.bearerToken) else {
            return .object(status: 401, KubeStatusError(code: 401, reason: "Unauthorized", message: "Unauthorized").status)
        }
        if let request = AuditLog.Request(method: method, path: path, query: query, userAgent: caller.userAgent) { audit.record(request) }
        if let fault = fault(method: method, path: path, query: query) {
            switch fault {
            case .status(let code):
                let error = KubeFaults.error(for: code)
                return .object(status: error.code, error.status)
            case .delay(let duration):
                try? await Task.sleep(for: duration)
            }
        }
        do {
            return try route(method: method, path: path, query: query, contentType: contentType ?? "", body: body)
        } catch {
            return .object(status: error.code, error.status)
        }
    }

    /// The verb and resource of a request, for fault matching.
    func fault(method: String, path: String, query: [String: String]) -> KubeFaults.Fault? {
        let parts = path.split(separator: "/").map(String.init)
        var rest = parts.first == "api" ? parts.dropFirst(2) : parts.dropFirst(3)
        if rest.first == "namespaces", rest.count >= 3 { rest = rest.dropFirst(2) }
        guard let resource = rest.first else { return nil }
        let named = rest.count > 1
        let verb: String
        switch method {
        case "GET": verb = named ? "get" : (query["watch"] == "true" || query["watch"] == "1" ? "watch" : "list")
        case "POST": verb = "create"
        case "PUT": verb = "update"
        case "PATCH": verb = "patch"
        case "DELETE": verb = "delete"
        default: return nil
        }
        return faults.next(verb: verb, resource: resource)
    }

    /// The unauthenticated control API for tests:
    /// `POST /_sim/faults {"verb": "update", "resource": "nodes", "code": 409, "count": 1}` or with
    /// `"delay_ms"`; `{"clear": true}`; `POST /_sim/drop-watches` ends every open watch;
    /// `POST /_sim/compact` forgets the watch history, so resuming watches get `410 Gone`;
    /// `GET /_sim/audit` lists who used which verb on which resource (``AuditLog``).
    func control(method: String, path: String, body: [UInt8]) -> Reply {
        let ok: JSONValue = ["ok": true]
        if path == "/_sim/audit" { return .object(status: 200, audit.document) }
        guard method == "POST" else { return .object(status: 405, KubeStatusError(code: 405, reason: "MethodNotAllowed", message: "POST only").status) }
        switch path {
        case "/_sim/drop-watches":
            store.closeWatches()
            return .object(status: 200, ok)
        case "/_sim/tokens":
            guard let request = try? JSONValue(parsing: body), let list = request["tokens"]?.arrayValue else {
                return .object(status: 400, KubeStatusError.badRequest("body must be {\"tokens\": [...]}").status)
            }
            tokens.replace(Set(list.compactMap(\.stringValue)))
            return .object(status: 200, ok)
        case "/_sim/compact":
            store.compact(through: store.currentRevision)
            return .object(status: 200, ok)
        case "/_sim/faults":
            guard let request = try? JSONValue(parsing: body) else { return .object(status: 400, KubeStatusError.badRequest("body must be JSON").status) }
            if request["clear"] == .bool(true) {
                faults.clear()
                return .object(status: 200, ok)
            }
            let verb = request["verb"]?.stringValue ?? "*", resource = request["resource"]?.stringValue ?? "*"
            var count = 1
            if case .int(let n)? = request["count"] { count = Int(n) }
            if case .int(let code)? = request["code"], (400...599).contains(code) {
                faults.inject(.status(code: Int(code)), verb: verb, resource: resource, count: count)
            } else if case .int(let ms)? = request["delay_ms"], (0...600_000).contains(ms) {
                faults.inject(.delay(.milliseconds(ms)), verb: verb, resource: resource, count: count)
            } else {
                return .object(status: 400, KubeStatusError.badRequest("one of code (400...599) or delay_ms (0...600000) is required").status)
            }
            return .object(status: 200, ok)
        default:
            return .object(status: 404, KubeStatusError(code: 404, reason: "NotFound", message: "unknown control endpoint \(path)").status)
        }
    }

    func route(method: String, path: String, query: [String: String], contentType: String, body: [UInt8]) throws(KubeStatusError) -> Reply {
        let parts = path.split(separator: "/").map(String.init)
        if method == "GET", let document = try discovery(parts) { return .object(status: 200, document) }
        let (group, version, rest): (String, String, ArraySlice<String>)
        if parts.first == "api", parts.count >= 3 {
            (group, version, rest) = ("", parts[1], parts[2...])
        } else if parts.first == "apis", parts.count >= 4 {
            (group, version, rest) = (parts[1], parts[2], parts[3...])
        } else {
            throw KubeStatusError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        var namespace: String?
        var segments = Array(rest)
        if segments.count >= 3, segments[0] == "namespaces" {
            namespace = segments[1]
            segments = Array(segments.dropFirst(2))
        }
        guard let resourceName = segments.first, let resource = APIResource.find(group: group, version: version, name: resourceName) else {
            throw KubeStatusError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        if resource.namespaced && namespace == nil && segments.count > 1 {
            throw .badRequest("\(resource.name) are namespaced: use /namespaces/NAMESPACE/\(resource.name)/NAME")
        }
        if !resource.namespaced && namespace != nil { throw .notFound(resource.name, segments.dropFirst().first ?? "") }
        if let namespace, resource.name != "namespaces", (try? store.get("namespaces", namespace: nil, name: namespace)) == nil,
           method == "POST" || method == "PATCH" {
            throw .notFound("namespaces", namespace)
        }
        let name = segments.count > 1 ? segments[1] : nil
        let subresource = segments.count > 2 ? segments[2] : nil
        if let subresource, !resource.subresources.contains(subresource) {
            throw KubeStatusError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        return try serve(method: method, resource: resource, namespace: namespace, name: name, subresource: subresource,
                         query: query, contentType: contentType, body: body)
    }

    func selectors(_ query: [String: String]) throws(KubeStatusError) -> (LabelSelector?, FieldSelector?) {
        var labels: LabelSelector?, fields: FieldSelector?
        do {
            labels = try query["labelSelector"].map(LabelSelector.init(parsing:))
            fields = try query["fieldSelector"].map(FieldSelector.init(parsing:))
        } catch {
            throw .badRequest(error.description)
        }
        return (labels, fields)
    }

    /// The discovery documents kubectl reads before anything else; `nil` for other paths.
    func discovery(_ parts: [String]) throws(KubeStatusError) -> JSONValue? {
        if parts == ["version"] {
            return ["major": "1", "minor": "32", "gitVersion": "v1.32.0-vpcnet-sim", "platform": "linux/amd64"]
        }
        if parts == ["api"] {
            return ["kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": ""]]]
        }
        if parts == ["apis"] { return APIResource.groupList }
        if parts == ["openapi", "v3"] { return APIResource.openAPIIndex }
        if parts.count > 2, parts[0] == "openapi", parts[1] == "v3" {
            guard let document = APIResource.openAPIDocument(parts.dropFirst(2).joined(separator: "/")) else {
                throw KubeStatusError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
            }
            return document
        }
        if parts.count == 2, parts[0] == "api" {
            guard let list = APIResource.resourceList(group: "", version: parts[1]) else { throw .notFound("version", parts[1]) }
            return list
        }
        if parts.count == 2, parts[0] == "apis" {
            guard let document = APIResource.group(parts[1]) else { throw .notFound("group", parts[1]) }
            return document
        }
        if parts.count == 3, parts[0] == "apis" {
            guard let list = APIResource.resourceList(group: parts[1], version: parts[2]) else {
                throw .notFound("group", "\(parts[1])/\(parts[2])")
            }
            return list
        }
        return nil
    }

    func serve(method: String, resource: APIResource, namespace: String?, name: String?, subresource: String?,
               query: [String: String], contentType: String, body: [UInt8]) throws(KubeStatusError) -> Reply {
        func decodedBody() throws(KubeStatusError) -> JSONValue {
            guard body.count <= Self.maxBodyBytes else {
                throw KubeStatusError(code: 413, reason: "RequestEntityTooLarge", message: "the request body is too large")
            }
            do {
                return try JSONValue(parsing: body)
            } catch {
                throw .badRequest("the body is not valid JSON: \(error)")
            }
        }
        func checkKind(_ object: JSONValue) throws(KubeStatusError) {
            if let kind = object["kind"]?.stringValue, kind != resource.kind {
                throw .badRequest("the body is a \(kind), not a \(resource.kind)")
            }
            if let apiVersion = object["apiVersion"]?.stringValue, apiVersion != resource.groupVersion {
                throw .badRequest("apiVersion \(apiVersion) does not match \(resource.groupVersion)")
            }
        }

        let dryRun: Bool
        switch query["dryRun"] {
        case nil, "": dryRun = false
        case "All": dryRun = true
        case let other?: throw .badRequest("dryRun: Unsupported value: \"\(other)\": supported values: \"All\"")
        }
        if let subresource, subresource == "binding" ? method != "POST" : !["GET", "PUT", "PATCH"].contains(method) {
            throw KubeStatusError(code: 405, reason: "MethodNotAllowed", message: "\(method) is not supported on \(resource.name)/\(subresource)")
        }
        if method == "POST", name == nil, resource.namespaced, namespace == nil {
            throw KubeStatusError(code: 405, reason: "MethodNotAllowed", message: "create \(resource.name) in a namespace: /namespaces/NAMESPACE/\(resource.name)")
        }
        switch (method, name, subresource) {
        case ("GET", nil, nil) where query["watch"] == "true" || query["watch"] == "1":
            let from = try query["resourceVersion"].flatMap { text throws(KubeStatusError) -> Int64? in
                if text.isEmpty || text == "0" { return nil }
                guard let value = Int64(text) else { throw .badRequest("invalid resourceVersion \(text)") }
                return value
            }
            let (labels, fields) = try selectors(query)
            let seconds = query["timeoutSeconds"].flatMap(Int.init).map { min(max($0, 1), 3600) } ?? 1800
            let started: Result<AsyncStream<WatchEvent>, KubeStatusError>
            do {
                started = .success(try store.watch(resource.name, namespace: namespace, from: from, labelSelector: labels,
                                                   fieldSelector: fields, kind: resource.kind, apiVersion: resource.groupVersion,
                                                   bookmarkInterval: query["allowWatchBookmarks"] == "true" ? .seconds(5) : nil))
            } catch {
                started = .failure(error)
            }
            switch started {
            case .success(let stream):
                return .watch(stream, timeout: .seconds(seconds))
            case .failure(let error) where error.code == 410:
                // As the API server's watch cache does: a 200 stream carrying one ERROR event.
                let (gone, continuation) = AsyncStream<WatchEvent>.makeStream()
                continuation.yield(WatchEvent(kind: .error, resource: resource.name, object: error.status, resourceVersion: 0))
                continuation.finish()
                return .watch(gone, timeout: .seconds(seconds))
            case .failure(let error):
                throw error
            }

        case ("GET", nil, nil):
            let (labels, fields) = try selectors(query)
            let limit = query["limit"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil }
            let page = try store.list(resource.name, namespace: namespace, labelSelector: labels, fieldSelector: fields, limit: limit,
                                      continueToken: query["continue"])
            var metadata: JSONValue = ["resourceVersion": .string(String(page.revision))]
            if let token = page.continueToken { metadata["continue"] = .string(token) }
            return .object(status: 200, ["kind": .string("\(resource.kind)List"), "apiVersion": .string(resource.groupVersion),
                                         "metadata": metadata, "items": .array(page.items)])

        case ("GET", let name?, _):
            return .object(status: 200, try store.get(resource.name, namespace: namespace, name: name))

        case ("POST", nil, nil):
            var object = try decodedBody()
            try checkKind(object)
            object["kind"] = .string(resource.kind)
            object["apiVersion"] = .string(resource.groupVersion)
            if let generate = object.value(at: "metadata.generateName")?.stringValue, object.value(at: "metadata.name") == nil {
                object["metadata"]?["name"] = .string(generate + String(UUID().uuidString.lowercased().prefix(5)))
            }
            if let bodyNamespace = object.value(at: "metadata.namespace")?.stringValue, let namespace, bodyNamespace != namespace {
                throw .badRequest("the namespace of the object (\(bodyNamespace)) does not match the namespace of the request (\(namespace))")
            }
            if !resource.namespaced, object["metadata"]?["namespace"] != nil { object["metadata"]?["namespace"] = nil }
            try KubeValidation.validate(object, as: resource)
            return .object(status: 201, try store.create(resource.name, namespace: resource.namespaced ? namespace : nil, object: object,
                                                         dryRun: dryRun))

        case ("POST", let name?, "binding"):
            let binding = try decodedBody()
            guard let node = binding.value(at: "target.name")?.stringValue, !node.isEmpty else { throw .invalid("target.name: Required value") }
            _ = try store.mutate(resource.name, namespace: namespace, name: name) { object throws(KubeStatusError) in
                var pod = Pod(raw: object)
                if let bound = pod.nodeName, !bound.isEmpty {
                    throw KubeStatusError(code: 409, reason: "Conflict", message: "pod \(name) is already assigned to node \"\(bound)\"")
                }
                pod.nodeName = node
                return pod.raw
            }
            return .object(status: 201, ["kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201])

        case ("PUT", let name?, let sub):
            let object = try decodedBody()
            try checkKind(object)
            if let bodyName = object.value(at: "metadata.name")?.stringValue, bodyName != name {
                throw .badRequest("the name of the object (\(bodyName)) does not match the name in the URL (\(name))")
            }
            let hasStatus = resource.subresources.contains("status")
            return .object(status: 200, try store.mutate(resource.name, namespace: namespace, name: name, dryRun: dryRun) { current throws(KubeStatusError) in
                if let expected = object.value(at: "metadata.resourceVersion")?.stringValue, !expected.isEmpty,
                   expected != current.value(at: "metadata.resourceVersion")?.stringValue {
                    throw .conflict(resource.name, name)
                }
                var result = object
                result["kind"] = .string(resource.kind)
                result["apiVersion"] = .string(resource.groupVersion)
                // With a status subresource, the main resource ignores status and /status changes only status.
                if hasStatus && sub == nil { result["status"] = current["status"] }
                if sub == "status" {
                    var keep = current
                    keep["status"] = object["status"]
                    result = keep
                }
                try KubeValidation.validate(result, as: resource)
                return result
            })

        case ("PATCH", let name?, nil) where contentType.hasPrefix("application/apply-patch+yaml"):
            // Server-side apply, approximated: a missing object is created from the applied
            // configuration; an existing one takes it as a strategic merge patch. Field ownership
            // is not tracked. kubectl sends the configuration as JSON, which is YAML too.
            guard let manager = query["fieldManager"], !manager.isEmpty else {
                throw .badRequest("PATCH: fieldManager is required for apply requests")
            }
            var applied = try decodedBody()
            try checkKind(applied)
            if let bodyName = applied.value(at: "metadata.name")?.stringValue, bodyName != name {
                throw .badRequest("the name of the object (\(bodyName)) does not match the name in the URL (\(name))")
            }
            applied["kind"] = .string(resource.kind)
            applied["apiVersion"] = .string(resource.groupVersion)
            if (try? store.get(resource.name, namespace: namespace, name: name)) == nil {
                applied["metadata"]?["name"] = .string(name)
                try KubeValidation.validate(applied, as: resource)
                return .object(status: 201, try store.create(resource.name, namespace: resource.namespaced ? namespace : nil, object: applied,
                                                             dryRun: dryRun))
            }
            return .object(status: 200, try store.mutate(resource.name, namespace: namespace, name: name, dryRun: dryRun) { current throws(KubeStatusError) in
                var merged = current.strategicMergePatched(with: applied)
                if resource.subresources.contains("status") { merged["status"] = current["status"] }
                try KubeValidation.validate(merged, as: resource)
                return merged
            })

        case ("PATCH", let name?, let sub):
            let patch = try decodedBody()
            let type = contentType.split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
            let hasStatus = resource.subresources.contains("status")
            return .object(status: 200, try store.mutate(resource.name, namespace: namespace, name: name, dryRun: dryRun) { current throws(KubeStatusError) in
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
                    throw .conflict(resource.name, name)
                }
                if hasStatus && sub == nil { patched["status"] = current["status"] }
                if sub == "status" {
                    var keep = current
                    keep["status"] = patched["status"]
                    patched = keep
                }
                try KubeValidation.validate(patched, as: resource)
                return patched
            })

        case ("DELETE", let name?, nil) where dryRun:
            return .object(status: 200, try store.get(resource.name, namespace: namespace, name: name))

        case ("DELETE", let name?, nil):
            var uid: String?, version: String?
            if !body.isEmpty {
                let options = try decodedBody()
                uid = options.value(at: "preconditions.uid")?.stringValue
                version = options.value(at: "preconditions.resourceVersion")?.stringValue
            }
            return .object(status: 200, try store.delete(resource.name, namespace: namespace, name: name, preconditionUID: uid,
                                                        preconditionResourceVersion: version))

        default:
            throw KubeStatusError(code: 405, reason: "MethodNotAllowed", message: "\(method) is not supported on this path")
        }
    }
}

/// The set of bearer tokens a simulated API server accepts.
public final class SimTokens: Sendable {
    private let accepted: Mutex<Set<String>?>

    init(_ tokens: Set<String>?) { accepted = Mutex(tokens) }

    public func accepts(_ token: String?) -> Bool {
        accepted.withLock { accepted in accepted.map { set in token.map(set.contains) ?? false } ?? true }
    }

    public func replace(_ tokens: Set<String>?) { accepted.withLock { $0 = tokens } }

    /// One accepted token (for writing a kubeconfig), if tokens are required.
    public var any: String? { accepted.withLock { $0?.sorted().first } }
}
