import Foundation
import Kubernetes
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import VPCNetCore

/// Serves ``KubeAPI`` over HTTP/1.1; watches stream newline-delimited JSON events in a chunked
/// response until their timeout, the client leaving, or the store closing them.
public final class KubeAPIServer: Sendable {
    public let api: KubeAPI
    /// The generated CA and certificates when serving HTTPS.
    public let certificates: SimCertificates?
    private let channel: any Channel

    private init(api: KubeAPI, certificates: SimCertificates?, channel: any Channel) {
        self.api = api
        self.certificates = certificates
        self.channel = channel
    }

    /// Serves `api` on `host:port`; with `tls`, over HTTPS with a freshly generated CA, asking
    /// (not requiring) clients for a certificate signed by it.
    public static func start(_ api: KubeAPI, host: String, port: Int, tls: Bool = false) async throws -> KubeAPIServer {
        var context: NIOSSLContext?
        var certificates: SimCertificates?
        if tls {
            let generated = try SimCertificates.generate(hosts: Array(Set([host, "127.0.0.1", "localhost"])))
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(generated.serverCertificatePEM.utf8)).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(generated.serverKeyPEM.utf8), format: .pem)))
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(generated.caPEM.utf8)))
            configuration.certificateVerification = .optionalVerification
            context = try NIOSSLContext(configuration: configuration)
            certificates = generated
        }
        let channel = try await bootstrap(api, sslContext: context).bind(host: host, port: port).get()
        return KubeAPIServer(api: api, certificates: certificates, channel: channel)
    }

    /// Serves `api` over plain HTTP on a socket that is already bound and listening, e.g. one
    /// opened inside another network namespace (the simulated VPC).
    public static func start(_ api: KubeAPI, listeningSocket: CInt) async throws -> KubeAPIServer {
        let channel = try await bootstrap(api, sslContext: nil).withBoundSocket(listeningSocket).get()
        return KubeAPIServer(api: api, certificates: nil, channel: channel)
    }

    private static func bootstrap(_ api: KubeAPI, sslContext: NIOSSLContext?) -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(KubeHTTPHandler(api: api))
                }
            }
    }

    public var port: Int { channel.localAddress?.port ?? 0 }
    public var url: URL {
        let host = channel.localAddress?.ipAddress ?? "127.0.0.1"
        return URL(string: "\(certificates == nil ? "http" : "https")://\(host.contains(":") ? "[\(host)]" : host):\(port)")!
    }

    /// A connection for vpcnet's client, with the CA, the admin client certificate and an accepted token.
    public func connection() -> KubeConnection {
        KubeConnection(server: url, token: api.tokens.any, caPEM: certificates?.caPEM,
                       clientCertificatePEM: certificates?.clientCertificatePEM, clientKeyPEM: certificates?.clientKeyPEM)
    }

    public func stop() async throws {
        api.store.closeWatches()
        try await channel.close()
    }

    public func wait() async throws { try await channel.closeFuture.get() }

    /// A kubeconfig that points `kubectl` (or vpcnet's client) at this server.
    /// With TLS it carries the CA and the admin client certificate inline; with required tokens, one of them.
    public func kubeconfig(contextName: String = "vpcnet-sim") -> String {
        func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
        var cluster = "    server: \(url.absoluteString)\n"
        var user = "    token: \(api.tokens.any ?? "vpcnet-sim")\n"
        if let certificates {
            cluster += "    certificate-authority-data: \(base64(certificates.caPEM))\n"
            user += "    client-certificate-data: \(base64(certificates.clientCertificatePEM))\n"
            user += "    client-key-data: \(base64(certificates.clientKeyPEM))\n"
        }
        return "apiVersion: v1\nkind: Config\n"
            + "clusters:\n- name: \(contextName)\n  cluster:\n" + cluster
            + "users:\n- name: \(contextName)\n  user:\n" + user
            + "contexts:\n- name: \(contextName)\n  context:\n    cluster: \(contextName)\n    user: \(contextName)\n    namespace: default\n"
            + "current-context: \(contextName)\n"
    }
}

final class KubeHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let api: KubeAPI
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false
    private var watchTask: Task<Void, Never>?

    init(api: KubeAPI) { self.api = api }

    func channelInactive(context: ChannelHandlerContext) {
        watchTask?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            tooLarge = false
        case .body(let buffer):
            if body.count + buffer.readableBytes > KubeAPI.maxBodyBytes { tooLarge = true; body = [] } else if !tooLarge { body += buffer.readableBytesView }
        case .end:
            guard let head else { return }
            self.head = nil
            // Go clients form-encode queries: there '+' is a space (e.g. in "app in (a,b)" selectors).
            // Only the query is form-encoded; the path is left as sent.
            var uri = head.uri
            if let mark = uri.firstIndex(of: "?") {
                uri = String(uri[...mark]) + uri[uri.index(after: mark)...].replacingOccurrences(of: "+", with: "%20")
            }
            let components = URLComponents(string: uri)
            let path = components?.path ?? head.uri
            var query: [String: String] = [:]
            for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            let api = self.api, body = self.body, tooLarge = self.tooLarge
            let contentType = head.headers.first(name: "content-type")
            let method = head.method.rawValue
            var caller = KubeAPI.Caller()
            caller.userAgent = head.headers.first(name: "user-agent")
            if let authorization = head.headers.first(name: "authorization"), authorization.lowercased().hasPrefix("bearer ") {
                caller.bearerToken = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            }
            // NIOSSL has verified any certificate presented against our CA (optionalVerification).
            if let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self), tls.peerCertificate != nil {
                caller.verifiedClientCertificate = true
            }
            Task {
                let reply: KubeAPI.Reply = tooLarge
                    ? .object(status: 413, KubeStatusError(code: 413, reason: "RequestEntityTooLarge", message: "the request body is too large").status)
                    : await api.handle(method: method, path: path, query: query, contentType: contentType, body: body, caller: caller)
                loop.execute {
                    let (handler, context) = bound.value
                    handler.send(reply, context: context, keepAlive: head.isKeepAlive)
                }
            }
        }
    }

    private func send(_ reply: KubeAPI.Reply, context: ChannelHandlerContext, keepAlive: Bool) {
        switch reply {
        case .object(let status, let object):
            let text = object.serialized()
            var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(text.utf8.count))])
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))),
                          promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            if !keepAlive { context.close(promise: nil) }

        case .watch(let stream, let timeout):
            // The client may already be gone (its channelInactive has run): then do not start.
            guard context.channel.isActive else { return }
            let headers = HTTPHeaders([("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")])
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            watchTask = Task {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // Events (bookmarks included) arrive in the order the store queued them.
                        for await event in stream {
                            let line = (["type": .string(event.kind.rawValue), "object": event.object] as JSONValue).serialized() + "\n"
                            loop.execute {
                                let (handler, context) = bound.value
                                context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: line)))), promise: nil)
                            }
                        }
                    }
                    // The first child to finish ends the watch: the stream closing, or the timeout.
                    group.addTask { try? await Task.sleep(for: timeout) }
                    _ = await group.next()
                    group.cancelAll()
                }
                loop.execute {
                    let (handler, context) = bound.value
                    context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        }
    }
}
