import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import VPCNetCore

/// An error the API server answered with (its `Status` object), or a failure to reach it.
public enum KubeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server's `Status`: HTTP code, reason (`NotFound`, `Conflict`, `Expired`, …) and message.
    case api(code: Int, reason: String, message: String)
    case transport(String)
    case invalidResponse(String)

    public var code: Int? {
        if case .api(let code, _, _) = self { return code }
        return nil
    }

    public var isNotFound: Bool { code == 404 }
    public var isConflict: Bool { code == 409 }
    /// A watch's resourceVersion is too old: list again.
    public var isGone: Bool { code == 410 }

    public var description: String {
        switch self {
        case .api(let code, let reason, let message): "Kubernetes API \(code) \(reason): \(message)"
        case .transport(let detail): "Kubernetes API unreachable: \(detail)"
        case .invalidResponse(let detail): "Kubernetes API response not understood: \(detail)"
        }
    }
}

/// A client of the Kubernetes REST API for the typed objects in this module.
///
/// Objects travel whole (``KubeObject/raw``), so what another controller wrote survives an
/// update. ``update(_:namespace:name:attempts:change:)`` is the read–modify–write loop
/// controllers need: on `409 Conflict` it re-reads and re-applies the change.
public final class KubeClient: Sendable {
    public let connection: KubeConnection
    let http: HTTPClient
    let requestTimeout: Duration

    /// Sent as `User-Agent`, so the API server's audit log (and the simulator's) tells which
    /// component made a call.
    public let userAgent: String

    public init(connection: KubeConnection, requestTimeout: Duration = .seconds(30), userAgent: String = "vpcnet") throws {
        self.connection = connection
        self.requestTimeout = requestTimeout
        self.userAgent = userAgent
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(5)
        if connection.server.scheme == "https" { configuration.tlsConfiguration = try connection.tlsConfiguration() }
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async throws { try await http.shutdown() }

    // MARK: Paths

    static func path<T: KubeObject>(_ type: T.Type, namespace: String?, name: String? = nil, subresource: String? = nil) -> String {
        let base = T.apiVersion.contains("/") ? "/apis/\(T.apiVersion)" : "/api/\(T.apiVersion)"
        var path = base
        if T.namespaced, let namespace { path += "/namespaces/\(escape(namespace))" }
        path += "/\(T.resource)"
        if let name { path += "/\(escape(name))" }
        if let subresource { path += "/\(subresource)" }
        return path
    }

    static func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? segment
    }

    static func query(_ items: [String: String?]) -> String {
        var components = URLComponents()
        components.queryItems = items.compactMap { key, value in value.map { URLQueryItem(name: key, value: $0) } }.sorted { $0.name < $1.name }
        return components.percentEncodedQuery.map { "?\($0)" } ?? ""
    }

    // MARK: Requests

    func request(_ method: HTTPMethod, _ pathAndQuery: String, body: JSONValue? = nil,
                 contentType: String = "application/json") async throws(KubeError) -> JSONValue {
        // (A Result, not `catch where`: the 6.3 compiler crashes on that in async typed throws.)
        let token = try await connection.bearerToken()
        let first: Result<JSONValue, KubeError>
        do { first = .success(try await requestOnce(method, pathAndQuery, body: body, contentType: contentType, token: token)) } catch {
            first = .failure(error)
        }
        switch first {
        case .failure(let error) where error.code == 401 && connection.exec != nil:
            // The plugin's token may have been revoked before its stated expiry: fetch a new one, once.
            await connection.exec?.invalidate(ifToken: token)
            return try await requestOnce(method, pathAndQuery, body: body, contentType: contentType, token: try await connection.bearerToken())
        case .failure(let error): throw error
        case .success(let value): return value
        }
    }

    private func requestOnce(_ method: HTTPMethod, _ pathAndQuery: String, body: JSONValue?,
                             contentType: String, token: String?) async throws(KubeError) -> JSONValue {
        var request = HTTPClientRequest(url: connection.server.absoluteString.trimmingSuffix("/") + pathAndQuery)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: userAgent)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body.serialized()))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .nanoseconds(max(requestTimeout.nanoseconds, 1_000_000)))
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw .transport(String(describing: error))
        }
        let value = try? JSONValue(parsing: Array(bytes.readableBytesView))
        guard (200...299).contains(Int(response.status.code)) else {
            throw Self.error(status: Int(response.status.code), body: value, raw: bytes)
        }
        guard let value else { throw .invalidResponse("\(method) \(pathAndQuery) did not answer with JSON") }
        return value
    }

    static func error(status: Int, body: JSONValue?, raw: ByteBuffer) -> KubeError {
        if let body, body["kind"] == "Status" {
            return .api(code: status, reason: body["reason"]?.stringValue ?? "", message: body["message"]?.stringValue ?? "")
        }
        return .api(code: status, reason: "", message: String(buffer: raw).prefix(200).description)
    }

    // MARK: Operations

    /// Binds a pod to a node (the `binding` subresource): what a scheduler does.
    public func bind(pod name: String, namespace: String, node: String) async throws(KubeError) {
        let body: JSONValue = ["apiVersion": "v1", "kind": "Binding", "metadata": ["name": .string(name), "namespace": .string(namespace)],
                               "target": ["apiVersion": "v1", "kind": "Node", "name": .string(node)]]
        _ = try await request(.POST, Self.path(Pod.self, namespace: namespace, name: name) + "/binding", body: body)
    }

    public func get<T: KubeObject>(_ type: T.Type, namespace: String? = nil, name: String) async throws(KubeError) -> T {
        T(raw: try await request(.GET, Self.path(T.self, namespace: namespace, name: name)))
    }

    /// Every matching object (following `continue` tokens) and the list's resourceVersion.
    public func list<T: KubeObject>(_ type: T.Type, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
                                    pageSize: Int = 500) async throws(KubeError) -> (items: [T], resourceVersion: String) {
        var items: [T] = []
        var token: String?
        var resourceVersion = ""
        repeat {
            let page = try await request(.GET, Self.path(T.self, namespace: namespace) + Self.query([
                "labelSelector": labelSelector, "fieldSelector": fieldSelector, "limit": String(pageSize), "continue": token,
            ]))
            items += (page["items"]?.arrayValue ?? []).map(T.init(raw:))
            resourceVersion = page.value(at: "metadata.resourceVersion")?.stringValue ?? ""
            token = page.value(at: "metadata.continue")?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return (items, resourceVersion)
    }

    public func create<T: KubeObject>(_ object: T) async throws(KubeError) -> T {
        T(raw: try await request(.POST, Self.path(T.self, namespace: object.namespace), body: object.raw))
    }

    /// Replaces the object; its `metadata.resourceVersion` makes this conditional (409 when stale).
    public func replace<T: KubeObject>(_ object: T, subresource: String? = nil) async throws(KubeError) -> T {
        T(raw: try await request(.PUT, Self.path(T.self, namespace: object.namespace, name: object.name, subresource: subresource),
                                 body: object.raw))
    }

    /// Read, change, write; on `409 Conflict` read again and re-apply `change`, up to `attempts`
    /// times. `change` returns false when nothing needs writing (no request is then sent).
    @discardableResult
    public func update<T: KubeObject>(_ type: T.Type, namespace: String? = nil, name: String, subresource: String? = nil, attempts: Int = 5,
                                      change: (inout T) throws -> Bool) async throws -> T {
        var lastError: KubeError?
        for attempt in 1...max(1, attempts) {
            var object = try await get(T.self, namespace: namespace, name: name)
            guard try change(&object) else { return object }
            let result: Result<T, KubeError>
            do {
                result = .success(try await replace(object, subresource: subresource))
            } catch {
                result = .failure(error)
            }
            switch result {
            case .success(let written):
                return written
            case .failure(let error) where error.isConflict:
                lastError = error
                if attempt < attempts { try await Task.sleep(for: .milliseconds(Int64.random(in: 5...50))) }
            case .failure(let error):
                throw error
            }
        }
        throw lastError ?? KubeError.api(code: 409, reason: "Conflict", message: "gave up after \(attempts) conflicts")
    }

    public enum PatchType: String, Sendable {
        case merge = "application/merge-patch+json"
        case json = "application/json-patch+json"
        case strategic = "application/strategic-merge-patch+json"
    }

    public func patch<T: KubeObject>(_ type: T.Type, namespace: String? = nil, name: String, subresource: String? = nil,
                                     _ patchType: PatchType, _ patch: JSONValue) async throws(KubeError) -> T {
        T(raw: try await request(.PATCH, Self.path(T.self, namespace: namespace, name: name, subresource: subresource), body: patch,
                                 contentType: patchType.rawValue))
    }

    /// Deletes, optionally only if the uid and/or resourceVersion still match (409 otherwise).
    public func delete<T: KubeObject>(_ type: T.Type, namespace: String? = nil, name: String, uid: String? = nil,
                                      resourceVersion: String? = nil) async throws(KubeError) {
        var body: JSONValue?
        if uid != nil || resourceVersion != nil {
            var preconditions: JSONValue = [:]
            if let uid { preconditions["uid"] = .string(uid) }
            if let resourceVersion { preconditions["resourceVersion"] = .string(resourceVersion) }
            body = ["apiVersion": "v1", "kind": "DeleteOptions", "preconditions": preconditions]
        }
        _ = try await request(.DELETE, Self.path(T.self, namespace: namespace, name: name), body: body)
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
