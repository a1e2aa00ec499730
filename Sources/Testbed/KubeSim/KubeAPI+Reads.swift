import Foundation
import Kubernetes
import VPCNetCore

/// The read verbs: get, list, and watch (a stream of the store's events).
extension KubeAPI {
    func get(_ call: ResourceCall) throws(KubeStatusError) -> Reply {
        guard let name = call.name else { throw call.notSupported }
        if call.subresource == "scale" { return try scale(call, name: name) }
        return .object(status: 200, try store.get(call.resource.storeKey, namespace: call.namespace, name: name))
    }

    func list(_ call: ResourceCall) throws(KubeStatusError) -> Reply {
        let (labels, fields) = try call.selectors()
        let limit = call.query["limit"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil }
        let page = try store.list(call.resource.storeKey, namespace: call.namespace, labelSelector: labels, fieldSelector: fields, limit: limit,
                                  continueToken: call.query["continue"])
        var metadata: JSONValue = ["resourceVersion": .string(String(page.revision))]
        if let token = page.continueToken { metadata["continue"] = .string(token) }
        return .object(status: 200, ["kind": .string("\(call.resource.kind)List"), "apiVersion": .string(call.resource.groupVersion),
                                     "metadata": metadata, "items": .array(page.items)])
    }

    func watch(_ call: ResourceCall) throws(KubeStatusError) -> Reply {
        let from = try call.query["resourceVersion"].flatMap { text throws(KubeStatusError) -> Int64? in
            if text.isEmpty || text == "0" { return nil }
            guard let value = Int64(text) else { throw .badRequest("invalid resourceVersion \(text)") }
            return value
        }
        let (labels, fields) = try call.selectors()
        let seconds = call.query["timeoutSeconds"].flatMap(Int.init).map { min(max($0, 1), 3600) } ?? 1800
        let started: Result<AsyncStream<WatchEvent>, KubeStatusError>
        do {
            started = .success(try store.watch(call.resource.storeKey, namespace: call.namespace, from: from, labelSelector: labels,
                                               fieldSelector: fields, kind: call.resource.kind, apiVersion: call.resource.groupVersion,
                                               bookmarkInterval: call.query["allowWatchBookmarks"] == "true" ? .seconds(5) : nil))
        } catch {
            started = .failure(error)
        }
        switch started {
        case .success(let stream):
            return .watch(stream, timeout: .seconds(seconds))
        case .failure(let error) where error.code == 410:
            // As the API server's watch cache does: a 200 stream carrying one ERROR event.
            let (gone, continuation) = AsyncStream<WatchEvent>.makeStream()
            continuation.yield(WatchEvent(kind: .error, resource: call.resource.storeKey, object: error.status, resourceVersion: 0))
            continuation.finish()
            return .watch(gone, timeout: .seconds(seconds))
        case .failure(let error):
            throw error
        }
    }
}
