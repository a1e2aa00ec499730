import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// `/metrics` (Prometheus text format) and `/healthz` over plain HTTP, for the kubelet's probes
/// and Prometheus' scrapes. Nothing else is served.
public enum MetricsServer {
    public static func start(registry: PrometheusCollectorRegistry, host: String, port: Int) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(registry: registry))
                }
            }
            .bind(host: host, port: port).get()
    }

    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let registry: PrometheusCollectorRegistry

        init(registry: PrometheusCollectorRegistry) { self.registry = registry }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else { return }
            let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
            let (status, type, body): (HTTPResponseStatus, String, [UInt8]) = switch (head.method, path) {
            case (.GET, "/metrics"): (.ok, "text/plain; version=0.0.4", registry.emitToBuffer())
            case (.GET, "/healthz"): (.ok, "text/plain", Array("ok\n".utf8))
            default: (.notFound, "text/plain", Array("not found\n".utf8))
            }
            let headers = HTTPHeaders([("Content-Type", type), ("Content-Length", String(body.count)), ("Connection", "close")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}
