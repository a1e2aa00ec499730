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

        /// The RBAC view of a resource request.
        init(_ request: ResourceRequest, userAgent: String?) {
            self.userAgent = userAgent ?? ""
            verb = request.verb.rawValue
            group = request.group
            resource = request.rbacResource
            namespace = request.namespace ?? ""
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
