import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves an ``EC2Simulator`` over HTTP/1.1, plus a small unauthenticated control API for tests
/// under `/_sim/`:
///
/// - `GET /_sim/state` — resource counts and invariant violations, as JSON
/// - `POST /_sim/faults` — `{"action": "AttachNetworkInterface", "count": 2, "code": "InternalError",
///   "status": 500}`, or with `"delay_ms": 500`, `"drop": true` (before the action runs) or
///   `"drop_response": true` (after it ran); `{"clear": true}` removes all
/// - `POST /_sim/throttle` — `{"enabled": false}`, or `{"action": "DescribeSubnets", "capacity": 2,
///   "refill_per_second": 0.5}` (without `action`: every action)
public final class EC2SimServer: Sendable {
    public let simulator: EC2Simulator
    private let channel: any Channel

    private init(simulator: EC2Simulator, channel: any Channel) {
        self.simulator = simulator
        self.channel = channel
    }

    /// Binds `host:port` (port 0 picks a free one) and starts serving.
    public static func start(_ simulator: EC2Simulator, host: String, port: Int) async throws -> EC2SimServer {
        EC2SimServer(simulator: simulator, channel: try await bootstrap(simulator).bind(host: host, port: port).get())
    }

    /// Serves on a socket that is already bound and listening (e.g. inside the simulated VPC).
    public static func start(_ simulator: EC2Simulator, listeningSocket: CInt) async throws -> EC2SimServer {
        EC2SimServer(simulator: simulator, channel: try await bootstrap(simulator).withBoundSocket(listeningSocket).get())
    }

    private static func bootstrap(_ simulator: EC2Simulator) -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(SimHTTPHandler(simulator: simulator))
                }
            }
    }

    public var port: Int { channel.localAddress?.port ?? 0 }
    public var url: URL {
        let host = channel.localAddress?.ipAddress ?? "127.0.0.1"
        return URL(string: "http://\(host.contains(":") ? "[\(host)]" : host):\(port)")!
    }

    public func stop() async throws { try await channel.close() }

    /// Resolves when the server's channel closes.
    public func wait() async throws { try await channel.closeFuture.get() }
}

/// Collects one request, answers it from the simulator (or the control API) off the event loop.
final class SimHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let simulator: EC2Simulator
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// Set after a 413: the rest of that request is read and dropped.
    private var discarding = false
    /// EC2 requests are small; anything larger is refused rather than buffered.
    private let maxBody = 1 << 20

    init(simulator: EC2Simulator) { self.simulator = simulator }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            discarding = false
        case .body(let buffer):
            guard !discarding else { return }
            body += buffer.readableBytesView
            if body.count > maxBody {
                discarding = true
                body = []
                head = nil
                write(context: context, status: 413, contentType: "text/plain", text: "request body too large", keepAlive: false)
            }
        case .end:
            guard let head, !discarding else { return }
            self.head = nil
            let request = (head: head, body: body)
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            let simulator = self.simulator
            Task {
                let response = await Self.respond(simulator: simulator, head: request.head, body: request.body)
                loop.execute {
                    let (handler, context) = bound.value
                    if response.drop {
                        context.close(promise: nil)
                    } else {
                        handler.write(context: context, status: response.status, contentType: response.contentType,
                                      text: response.body, keepAlive: request.head.isKeepAlive)
                    }
                }
            }
        }
    }

    struct Reply: Sendable {
        var status: Int
        var body: String
        var contentType = "text/xml;charset=UTF-8"
        var drop = false
    }

    static func respond(simulator: EC2Simulator, head: HTTPRequestHead, body: [UInt8]) async -> Reply {
        let host = head.headers.first(name: "host") ?? "localhost"
        let url = URL(string: "http://\(host)\(head.uri)") ?? URL(string: "http://localhost/")!
        if url.path.hasPrefix("/_sim/") {
            return SimControlAPI.handle(simulator: simulator, method: head.method, path: url.path, body: body)
        }
        let response = await simulator.handle(method: "\(head.method.rawValue)", url: url,
                                              headers: head.headers.map { ($0.name, $0.value) }, body: body)
        return Reply(status: response.status, body: response.body, drop: response.drop)
    }

    func write(context: ChannelHandlerContext, status: Int, contentType: String, text: String, keepAlive: Bool) {
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", String(text.utf8.count))])
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let closed = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: closed)
            let channel = context.channel
            closed.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// The `/_sim/` control API (see ``EC2SimServer``).
enum SimControlAPI {
    static func handle(simulator: EC2Simulator, method: HTTPMethod, path: String, body: [UInt8]) -> SimHTTPHandler.Reply {
        func json(_ status: Int, _ object: Any) -> SimHTTPHandler.Reply {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            return .init(status: status, body: String(decoding: data, as: UTF8.self), contentType: "application/json")
        }
        let request = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        switch (method, path) {
        case (.GET, "/_sim/state"):
            return json(200, ["summary": simulator.summary, "violations": simulator.invariantViolations()])
        case (.POST, "/_sim/faults"):
            if request["clear"] as? Bool == true {
                simulator.faults.clear()
                return json(200, ["ok": true])
            }
            guard let action = request["action"] as? String else { return json(400, ["error": "action is required"]) }
            let count = min(max((request["count"] as? NSNumber)?.intValue ?? 1, 0), 10_000)
            if request["drop"] as? Bool == true {
                simulator.faults.inject(.drop, action: action, count: count)
            } else if request["drop_response"] as? Bool == true {
                simulator.faults.inject(.dropResponse, action: action, count: count)
            } else if let delay = (request["delay_ms"] as? NSNumber)?.intValue {
                guard (0...600_000).contains(delay) else { return json(400, ["error": "delay_ms must be 0...600000"]) }
                simulator.faults.inject(.delay(.milliseconds(delay)), action: action, count: count)
            } else if let code = request["code"] as? String {
                let status = (request["status"] as? NSNumber)?.intValue ?? 400
                guard (400...599).contains(status) else { return json(400, ["error": "status must be 400...599"]) }
                simulator.faults.inject(.error(code: code, status: status,
                                               message: request["message"] as? String ?? "injected fault"), action: action, count: count)
            } else {
                return json(400, ["error": "one of drop, delay_ms or code is required"])
            }
            return json(200, ["ok": true])
        case (.POST, "/_sim/throttle"):
            var bucket: SimThrottle.Bucket?
            if let capacity = (request["capacity"] as? NSNumber)?.doubleValue,
               let refill = (request["refill_per_second"] as? NSNumber)?.doubleValue {
                guard capacity >= 1, refill > 0 else { return json(400, ["error": "capacity ≥ 1 and refill_per_second > 0"]) }
                bucket = .init(capacity: capacity, refillPerSecond: refill)
            }
            simulator.throttle.configure(enabled: request["enabled"] as? Bool, action: request["action"] as? String, bucket: bucket)
            return json(200, ["ok": true])
        default:
            return json(404, ["error": "unknown control endpoint \(method) \(path)"])
        }
    }
}
