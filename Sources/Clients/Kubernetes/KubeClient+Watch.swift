import AsyncHTTPClient
import Foundation
import NIOCore
import VPCNetCore

/// One event of a watch.
public enum KubeWatchEvent<T: KubeObject>: Sendable {
    case added(T)
    case modified(T)
    case deleted(T)
    /// A checkpoint: the watch may be resumed from this resourceVersion.
    case bookmark(resourceVersion: String)
}

extension KubeClient {
    /// Watches `T` from `resourceVersion` (as returned by ``list(_:namespace:labelSelector:fieldSelector:pageSize:)``).
    ///
    /// The stream ends when the server ends the watch (its timeout, or a restart): resume from
    /// the last resourceVersion seen. It fails with ``KubeError/isGone`` when that version has
    /// been compacted away: list again. Lines are read as the chunked response arrives; the
    /// request's deadline does not cut the stream, `timeoutSeconds` bounds it on the server.
    public func watch<T: KubeObject>(_ type: T.Type, namespace: String? = nil, resourceVersion: String, labelSelector: String? = nil,
                                     fieldSelector: String? = nil, timeoutSeconds: Int = 300,
                                     bookmarks: Bool = true) -> AsyncThrowingStream<KubeWatchEvent<T>, any Error> {
        let pathAndQuery = Self.path(T.self, namespace: namespace) + Self.query([
            "watch": "true", "resourceVersion": resourceVersion, "labelSelector": labelSelector, "fieldSelector": fieldSelector,
            "timeoutSeconds": String(timeoutSeconds), "allowWatchBookmarks": bookmarks ? "true" : nil,
        ])
        let http = self.http, connection = self.connection, userAgent = self.userAgent
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var request = HTTPClientRequest(url: connection.server.absoluteString.trimmingSuffix("/") + pathAndQuery)
                    request.headers.add(name: "Accept", value: "application/json")
                    request.headers.add(name: "User-Agent", value: userAgent)
                    let token = try await connection.bearerToken()
                    if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
                    let response = try await http.execute(request, timeout: .seconds(Int64(timeoutSeconds) + 30))
                    guard response.status == .ok else {
                        // A revoked plugin token: the informer's retry fetches a fresh one.
                        if response.status == .unauthorized { await connection.exec?.invalidate(ifToken: token) }
                        let body = try await response.body.collect(upTo: 1 << 20)
                        throw Self.error(status: Int(response.status.code), body: try? JSONValue(parsing: Array(body.readableBytesView)), raw: body)
                    }
                    var pending: [UInt8] = []
                    for try await chunk in response.body {
                        pending += chunk.readableBytesView
                        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                            let line = Array(pending[..<newline])
                            pending.removeSubrange(...newline)
                            if line.isEmpty { continue }
                            continuation.yield(try Self.decodeWatchLine(line, as: T.self))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    static func decodeWatchLine<T: KubeObject>(_ line: [UInt8], as type: T.Type) throws -> KubeWatchEvent<T> {
        let event = try JSONValue(parsing: line)
        guard let kind = event["type"]?.stringValue, let object = event["object"] else {
            throw KubeError.invalidResponse("a watch line without type and object")
        }
        switch kind {
        case "ADDED": return .added(T(raw: object))
        case "MODIFIED": return .modified(T(raw: object))
        case "DELETED": return .deleted(T(raw: object))
        case "BOOKMARK":
            // Resuming from an empty version would silently skip events: refuse it.
            guard let version = object.value(at: "metadata.resourceVersion")?.stringValue, !version.isEmpty else {
                throw KubeError.invalidResponse("a BOOKMARK without a resourceVersion")
            }
            return .bookmark(resourceVersion: version)
        case "ERROR":
            // A Status object: 410 Gone when the watch started too far back.
            var code = 500
            if case .int(let value)? = object["code"] { code = Int(value) }
            throw KubeError.api(code: code,
                                reason: object["reason"]?.stringValue ?? "", message: object["message"]?.stringValue ?? "")
        default:
            throw KubeError.invalidResponse("unknown watch event type \(kind)")
        }
    }
}
