@testable import KubeSim
import VPCNetCore

extension KubeAPI {
    /// One request in-process, as the HTTP server would pass it: the status and the object
    /// answered (0 and null for a watch).
    func call(_ method: String, _ path: String, _ body: JSONValue? = nil, query: [String: String] = [:],
              contentType: String = "application/json") async -> (Int, JSONValue) {
        let reply = await handle(method: method, path: path, query: query, contentType: contentType,
                                 body: body.map { Array($0.serialized().utf8) } ?? [])
        guard case .object(let status, let object) = reply else { return (0, .null) }
        return (status, object)
    }
}
