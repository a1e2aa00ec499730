import NIOCore
import NIOHTTP1
import NIOPosix
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
    public static func start(host: String, port: Int, resources: [String: HTTPResource]) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(resources: resources))
                }
            }
            .bind(host: host, port: port).get()
    }

    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let resources: [String: HTTPResource]

        init(resources: [String: HTTPResource]) { self.resources = resources }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else { return }
            let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            guard let resource = resources[path] else {
                respond(bound, status: .notFound, type: "text/plain", body: Array("not found\n".utf8))
                return
            }
            guard head.method == .GET else {
                respond(bound, status: .methodNotAllowed, type: "text/plain", body: Array("only GET\n".utf8))
                return
            }
            let promise = context.eventLoop.makePromise(of: [UInt8].self)
            promise.completeWithTask { await resource.body() }
            promise.futureResult.whenSuccess { body in self.respond(bound, status: .ok, type: resource.contentType, body: body) }
        }

        private func respond(_ bound: NIOLoopBound<ChannelHandlerContext>, status: HTTPResponseStatus, type: String, body: [UInt8]) {
            let context = bound.value
            let headers = HTTPHeaders([("Content-Type", type), ("Content-Length", String(body.count)), ("Connection", "close")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}

/// `/metrics` (Prometheus text format) and `/healthz`.
public enum MetricsServer {
    public static func start(registry: PrometheusCollectorRegistry, host: String, port: Int) async throws -> any Channel {
        try await ResourceServer.start(host: host, port: port, resources: [
            "/metrics": HTTPResource(contentType: "text/plain; version=0.0.4") { registry.emitToBuffer() },
            "/healthz": HTTPResource(contentType: "text/plain") { Array("ok\n".utf8) },
        ])
    }
}
