import Foundation
import Kubernetes
import VPCNetCore

extension KubeAPI {
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
}
