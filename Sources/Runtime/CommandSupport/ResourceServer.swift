import HTTPServing
import Prometheus

/// One read-only HTTP resource: its content type and how to produce its body.
public struct HTTPResource: Sendable {
    public var contentType: String
    public var body: @Sendable () async -> [UInt8]

    public init(contentType: String, body: @escaping @Sendable () async -> [UInt8]) {
        self.contentType = contentType
        self.body = body
    }
}

/// A small plain-HTTP server of read-only resources by path (GET only, one request per
/// connection): `/metrics` and `/healthz` for Prometheus and the kubelet, the daemon's
/// introspection endpoint. Nothing else is served.
public enum ResourceServer {
    public static func start(host: String, port: Int, resources: [String: HTTPResource]) async throws -> HTTPServer {
        try await HTTPServer.start(host: host, port: port) { request in
            guard let resource = resources[request.path] else {
                return HTTPServerResponse(status: .notFound, contentType: "text/plain", text: "not found\n", closeConnection: true)
            }
            guard request.method == .GET else {
                return HTTPServerResponse(status: .methodNotAllowed, contentType: "text/plain", text: "only GET\n", closeConnection: true)
            }
            return HTTPServerResponse(status: .ok, contentType: resource.contentType, body: await resource.body(), closeConnection: true)
        }
    }
}

/// `/metrics` (Prometheus text format) and `/healthz`.
public enum MetricsServer {
    public static func start(registry: PrometheusCollectorRegistry, host: String, port: Int) async throws -> HTTPServer {
        try await ResourceServer.start(host: host, port: port, resources: [
            "/metrics": HTTPResource(contentType: "text/plain; version=0.0.4") { registry.emitToBuffer() },
            "/healthz": HTTPResource(contentType: "text/plain") { Array("ok\n".utf8) },
        ])
    }
}
