import Synchronization
import VPCNetCore

/// The distinct (caller, verb, resource) triples the API served, as RBAC names them, so tests can
/// compare what each component really uses with what its ClusterRole grants. Callers are told
/// apart by their User-Agent; discovery and other non-resource paths are not recorded.
public final class AuditLog: Sendable {
    public struct Request: Hashable, Sendable, Comparable {
        public var userAgent: String
        public var verb: String
        public var group: String
        /// `resource` or `resource/subresource`.
        public var resource: String
        public var namespace: String

        /// The RBAC view of a request; nil for non-resource paths.
        init?(method: String, path: String, query: [String: String], userAgent: String?) {
            let parts = path.split(separator: "/").map(String.init)
            var rest: ArraySlice<String>
            if parts.first == "api", parts.count >= 3 {
                group = ""
                rest = parts.dropFirst(2)
            } else if parts.first == "apis", parts.count >= 4 {
                group = parts[1]
                rest = parts.dropFirst(3)
            } else {
                return nil
            }
            namespace = ""
            if rest.first == "namespaces", rest.count >= 3 {
                namespace = rest[rest.startIndex + 1]
                rest = rest.dropFirst(2)
            }
            guard let name = rest.first else { return nil }
            let named = rest.count > 1
            resource = rest.count > 2 ? "\(name)/\(rest[rest.startIndex + 2])" : name
            switch method {
            case "GET": verb = named ? "get" : (query["watch"] == "true" || query["watch"] == "1" ? "watch" : "list")
            case "POST": verb = "create"
            case "PUT": verb = "update"
            case "PATCH": verb = "patch"
            case "DELETE": verb = named ? "delete" : "deletecollection"
            default: return nil
            }
            self.userAgent = userAgent ?? ""
        }

        public static func < (a: Self, b: Self) -> Bool {
            (a.userAgent, a.group, a.resource, a.verb, a.namespace) < (b.userAgent, b.group, b.resource, b.verb, b.namespace)
        }
    }

    private let requests = Mutex(Set<Request>())

    public init() {}

    func record(_ request: Request) { _ = requests.withLock { $0.insert(request) } }

    public var entries: [Request] { requests.withLock { $0.sorted() } }

    var document: JSONValue {
        ["items": .array(entries.map { entry in
            ["userAgent": .string(entry.userAgent), "verb": .string(entry.verb), "group": .string(entry.group),
             "resource": .string(entry.resource), "namespace": .string(entry.namespace)]
        })]
    }
}
