import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP server on 127.0.0.1 that answers each request with the next scripted behaviour:
/// a response, a delay, a dropped connection, a truncated body. It records what it received.
final class ScriptedHTTPServer: Sendable {
    enum Behaviour: Sendable {
        case respond(status: Int, body: String, headers: [(String, String)] = [])
        /// Close the connection without answering (the client sees a reset/closed connection).
        case drop
        /// Wait, then behave as the inner behaviour.
        indirect case delay(Duration, Behaviour)
        /// Declare `Content-Length: declared` but send only `body`, then close.
        case truncate(status: Int, body: String, declared: Int)
    }

    struct Received: Sendable {
        var method: String
        var uri: String
        var headers: [(String, String)]
        var body: String
    }

    private let script: Mutex<[Behaviour]>
    private let fallback: Behaviour
    private let received = Mutex<[Received]>([])
    private let channel: Mutex<(any Channel)?> = Mutex(nil)
    private let boundPort = Mutex(0)
    var port: Int { boundPort.withLock { $0 } }

    init(script: [Behaviour], fallback: Behaviour = .respond(status: 500, body: "script exhausted")) {
        self.script = Mutex(script)
        self.fallback = fallback
    }

    var url: String { "http://127.0.0.1:\(port)/" }
    var requests: [Received] { received.withLock { $0 } }

    func start() async throws {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler(server: self))
                }
            }
        let bound = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        boundPort.withLock { $0 = bound.localAddress?.port ?? 0 }
        channel.withLock { $0 = bound }
    }

    func stop() async {
        let bound = channel.withLock { $0 }
        try? await bound?.close()
    }

    fileprivate func next(_ request: Received) -> Behaviour {
        received.withLock { $0.append(request) }
        return script.withLock { $0.isEmpty ? fallback : $0.removeFirst() }
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: ScriptedHTTPServer
        var head: HTTPRequestHead?
        var body = ""

        init(server: ScriptedHTTPServer) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): head = h; body = ""
            case .body(var buffer): body += buffer.readString(length: buffer.readableBytes) ?? ""
            case .end:
                guard let head else { return }
                let behaviour = server.next(Received(method: "\(head.method)", uri: head.uri,
                                                     headers: head.headers.map { ($0.name, $0.value) }, body: body))
                perform(behaviour, context: context)
            }
        }

        func perform(_ behaviour: Behaviour, context: ChannelHandlerContext) {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            switch behaviour {
            case .respond(let status, let text, let extra):
                var headers = HTTPHeaders(extra)
                headers.replaceOrAdd(name: "Content-Length", value: String(text.utf8.count))
                if !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: "text/xml;charset=UTF-8") }
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))),
                              promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case .drop:
                context.close(promise: nil)
            case .delay(let duration, let inner):
                let nanos = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
                context.eventLoop.scheduleTask(in: .nanoseconds(nanos)) {
                    self.perform(inner, context: loopBound.value)
                }
            case .truncate(let status, let text, let declared):
                let headers = HTTPHeaders([("Content-Length", String(declared)), ("Content-Type", "text/xml")])
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))),
                              promise: nil)
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                context.close(promise: nil)
            }
        }
    }
}
