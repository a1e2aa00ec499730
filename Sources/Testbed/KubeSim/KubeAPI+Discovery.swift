import Kubernetes
import VPCNetCore

extension KubeAPI {
    /// The discovery documents kubectl reads before anything else; `nil` for other paths.
    func discovery(_ parts: [String]) throws(KubeStatusError) -> JSONValue? {
        let catalog = self.catalog
        if parts == ["version"] {
            return ["major": "1", "minor": "32", "gitVersion": "v1.32.0-vpcnet-sim", "platform": "linux/amd64"]
        }
        if parts == ["api"] {
            return ["kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": ""]]]
        }
        if parts == ["apis"] { return catalog.groupList }
        if parts == ["openapi", "v3"] { return catalog.openAPIIndex }
        if parts.count > 2, parts[0] == "openapi", parts[1] == "v3" {
            guard let document = catalog.openAPIDocument(parts.dropFirst(2).joined(separator: "/")) else {
                throw KubeStatusError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
            }
            return document
        }
        if parts.count == 2, parts[0] == "api" {
            guard let list = catalog.resourceList(group: "", version: parts[1]) else { throw .notFound("version", parts[1]) }
            return list
        }
        if parts.count == 2, parts[0] == "apis" {
            guard let document = catalog.group(parts[1]) else { throw .notFound("group", parts[1]) }
            return document
        }
        if parts.count == 3, parts[0] == "apis" {
            guard let list = catalog.resourceList(group: parts[1], version: parts[2]) else {
                throw .notFound("group", "\(parts[1])/\(parts[2])")
            }
            return list
        }
        return nil
    }
}
