/// A request for a resource, parsed once from its method, path and query, as the API server's
/// request-info resolver does: what routing, fault injection and the audit log all read.
///
/// `/api/VERSION[/namespaces/NS]/RESOURCE[/NAME[/SUBRESOURCE]]` for the core group,
/// `/apis/GROUP/VERSION/…` for the others.
struct ResourceRequest: Sendable, Hashable {
    /// The verbs of RBAC, which the API server derives from the method and the path.
    enum Verb: String, Sendable, CaseIterable {
        case get, list, watch, create, update, patch, delete, deletecollection
    }

    var verb: Verb
    var group: String
    var version: String
    var namespace: String?
    /// The plural resource name as the path gives it.
    var resource: String
    var name: String?
    var subresource: String?

    /// Nil for paths that name no resource (discovery, `/version`, OpenAPI) and for other methods.
    init?(method: String, path: String, query: [String: String]) {
        let parts = path.split(separator: "/").map(String.init)
        var rest: ArraySlice<String>
        if parts.first == "api", parts.count >= 3 {
            (group, version, rest) = ("", parts[1], parts[2...])
        } else if parts.first == "apis", parts.count >= 4 {
            (group, version, rest) = (parts[1], parts[2], parts[3...])
        } else {
            return nil
        }
        if rest.count >= 3, rest.first == "namespaces" {
            namespace = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
        }
        guard let resource = rest.first else { return nil }
        self.resource = resource
        name = rest.count > 1 ? rest[rest.startIndex + 1] : nil
        subresource = rest.count > 2 ? rest[rest.startIndex + 2] : nil
        switch method {
        case "GET": verb = name != nil ? .get : (query["watch"] == "true" || query["watch"] == "1" ? .watch : .list)
        case "POST": verb = .create
        case "PUT": verb = .update
        case "PATCH": verb = .patch
        case "DELETE": verb = name != nil ? .delete : .deletecollection
        default: return nil
        }
    }

    /// `resource` or `resource/subresource`, as RBAC rules name it.
    var rbacResource: String { subresource.map { "\(resource)/\($0)" } ?? resource }
}
