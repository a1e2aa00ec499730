import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The one HTTP/1.1 server of vpcnet's processes and simulators (metrics and introspection, the
/// EC2 and Kubernetes API simulators, the metadata service, test servers): swift-nio's HTTP
/// codec and pipelining, `NIOAsyncChannel` for structured concurrency, and a handler that turns
/// each whole request into a response (nil: close the connection without answering).
///
/// Built on swift-nio rather than hummingbird: every user is a single handler function, the
/// simulated VPC serves sockets opened inside other network namespaces, the API simulator needs
/// per-connection TLS client verification and long streamed watches, and swift-nio is already
/// linked everywhere (hummingbird would add minutes to every cold build for a router none needs).
public final class HTTPServer: Sendable {
    public typealias Handler = @Sendable (HTTPServerRequest) async -> HTTPServerResponse?

    public struct Configuration: Sendable {
        /// Larger request bodies are read and dropped, and answered with `tooLarge`.
        public var maxBodyBytes: Int
        /// HTTPS with this context (client certificates are verified as it says).
        public var tls: NIOSSLContext?
        public var tooLarge: @Sendable (HTTPServerRequest) -> HTTPServerResponse

        public init(maxBodyBytes: Int = 1 << 20, tls: NIOSSLContext? = nil,
                    tooLarge: @escaping @Sendable (HTTPServerRequest) -> HTTPServerResponse = { _ in
                        HTTPServerResponse(status: .payloadTooLarge, contentType: "text/plain", text: "request body too large", closeConnection: true)
                    }) {
            self.maxBodyBytes = maxBodyBytes
            self.tls = tls
            self.tooLarge = tooLarge
        }
    }

    /// Requests come in through the async channel; responses go out through the channel itself.
    typealias Connection = NIOAsyncChannel<CollectedRequest, HTTPServerResponsePart>

    private let listening: any Channel
    private let serving: Task<Void, Never>

    private init(_ server: NIOAsyncChannel<Connection, Never>, configuration: Configuration, handler: @escaping Handler) {
        listening = server.channel
        serving = Task {
            // A failing connection ends only itself; the listening socket closing ends the loop.
            try? await server.executeThenClose { connections in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in connections {
                            group.addTask { await Self.serve(connection, configuration: configuration, handler: handler) }
                        }
                    } catch {}
                }
            }
        }
    }

    /// Binds `host:port` (port 0 picks a free one) and serves until ``stop()``.
    public static func start(host: String, port: Int, configuration: Configuration = Configuration(),
                             handler: @escaping Handler) async throws -> HTTPServer {
        let server = try await bootstrap().bind(host: host, port: port) { channel in initialize(channel, configuration) }
        return HTTPServer(server, configuration: configuration, handler: handler)
    }

    /// Serves on a socket that is already bound and listening (one opened inside another
    /// network namespace, for the simulated VPC).
    public static func start(listeningSocket: CInt, configuration: Configuration = Configuration(),
                             handler: @escaping Handler) async throws -> HTTPServer {
        let server = try await bootstrap().bind(listeningSocket) { channel in initialize(channel, configuration) }
        return HTTPServer(server, configuration: configuration, handler: handler)
    }

    public var localAddress: SocketAddress? { listening.localAddress }
    public var port: Int { listening.localAddress?.port ?? 0 }

    /// Stops accepting, ends every connection (streams included) and returns once all are closed.
    public func stop() async {
        listening.close(promise: nil)
        serving.cancel()
        await serving.value
    }

    /// Returns when the server has stopped.
    public func wait() async { await serving.value }

    private static func bootstrap() -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    }

    private static func initialize(_ channel: any Channel, _ configuration: Configuration) -> EventLoopFuture<Connection> {
        channel.eventLoop.makeCompletedFuture {
            if let tls = configuration.tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(RequestCollector(maxBodyBytes: configuration.maxBodyBytes))
            return try Connection(wrappingChannelSynchronously: channel)
        }
    }

    private static func serve(_ connection: Connection, configuration: Configuration, handler: Handler) async {
        let channel = connection.channel
        // Responses are written through the channel, each part's future awaited: a response is on
        // the wire before the next request is read or the connection closed (NIO drops writes still
        // queued when a channel closes), and a slow reader slows the writer.
        try? await connection.executeThenClose { requests, _ in
            for try await collected in requests {
                let request = collected.request
                let answer = collected.bodyTooLarge ? configuration.tooLarge(request) : await handler(request)
                guard let response = answer else { return }
                let close = response.closeConnection || !request.head.isKeepAlive
                try await write(response, close: close, to: channel)
                if close { return }
            }
        }
    }

    private static func write(_ response: HTTPServerResponse, close: Bool, to channel: any Channel) async throws {
        var headers = response.headers
        if close { headers.replaceOrAdd(name: "Connection", value: "close") }
        switch response.body {
        case .bytes(let body):
            if !headers.contains(name: "Content-Length") {
                headers.add(name: "Content-Length", value: String(body.readableBytes))
            }
            channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)), promise: nil)
            channel.write(HTTPServerResponsePart.body(.byteBuffer(body)), promise: nil)
            try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
        case .stream(let produce):
            if !headers.contains(name: "Content-Length") && !headers.contains(name: "Transfer-Encoding") {
                headers.add(name: "Transfer-Encoding", value: "chunked")
            }
            try await channel.writeAndFlush(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: response.status,
                                                                                         headers: headers))).get()
            // The producer runs until it returns or the client goes (the channel closing cancels it).
            let producing = Task { try await produce(HTTPBodyWriter(channel: channel)) }
            channel.closeFuture.whenComplete { _ in producing.cancel() }
            _ = await withTaskCancellationHandler { await producing.result } onCancel: { producing.cancel() }
            try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
        }
    }
}

/// A request collected from its parts on the event loop, so handlers see it whole.
struct CollectedRequest: Sendable {
    var request: HTTPServerRequest
    var bodyTooLarge: Bool
}

/// Collects head and body parts into one ``CollectedRequest``, keeping at most `maxBodyBytes`
/// of a body (a larger one is read to its end and dropped). Lives on its channel's event loop.
final class RequestCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = CollectedRequest

    private let maxBodyBytes: Int
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false

    init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
            tooLarge = false
        case .body(var chunk):
            guard !tooLarge else { return }
            if body.readableBytes + chunk.readableBytes > maxBodyBytes {
                tooLarge = true
                body = ByteBuffer()
            } else {
                body.writeBuffer(&chunk)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            // With optional verification NIOSSL has checked any certificate presented against the trust roots.
            let verified = (try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))?.peerCertificate != nil
            let request = HTTPServerRequest(head: head, body: body, remoteAddress: context.remoteAddress, verifiedClientCertificate: verified)
            context.fireChannelRead(wrapInboundOut(CollectedRequest(request: request, bodyTooLarge: tooLarge)))
        }
    }
}
