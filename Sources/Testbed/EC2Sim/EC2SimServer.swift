import Foundation
import HTTPServing
import NIOHTTP1

/// Serves an ``EC2Simulator`` over HTTP/1.1, plus a small unauthenticated control API for tests
/// under `/_sim/`:
///
/// - `GET /_sim/state` — resource counts, invariant violations, and requests (all and throttled) by action, as JSON
/// - `POST /_sim/faults` — `{"action": "AttachNetworkInterface", "count": 2, "code": "InternalError",
///   "status": 500}`, or with `"delay_ms": 500`, `"drop": true` (before the action runs) or
///   `"drop_response": true` (after it ran); `{"clear": true}` removes all
/// - `POST /_sim/throttle` — `{"enabled": false}`, or `{"action": "DescribeSubnets", "capacity": 2,
///   "refill_per_second": 0.5}` (without `action`: every action)
/// - `GET /_sim/throttle` — the buckets in force (EC2's documented ones unless changed)
public final class EC2SimServer: Sendable {
    public let simulator: EC2Simulator
    private let server: HTTPServer

    private init(simulator: EC2Simulator, server: HTTPServer) {
        self.simulator = simulator
        self.server = server
    }

    /// EC2 requests are small; anything larger is refused rather than buffered.
    static let configuration = HTTPServer.Configuration(maxBodyBytes: 1 << 20)

    /// Binds `host:port` (port 0 picks a free one) and starts serving.
    public static func start(_ simulator: EC2Simulator, host: String, port: Int) async throws -> EC2SimServer {
        EC2SimServer(simulator: simulator, server: try await HTTPServer.start(host: host, port: port, configuration: configuration) { request in
            await respond(simulator: simulator, request: request)
        })
    }

    /// Serves on a socket that is already bound and listening (e.g. inside the simulated VPC).
    public static func start(_ simulator: EC2Simulator, listeningSocket: CInt) async throws -> EC2SimServer {
        EC2SimServer(simulator: simulator, server: try await HTTPServer.start(listeningSocket: listeningSocket, configuration: configuration) { request in
            await respond(simulator: simulator, request: request)
        })
    }

    public var port: Int { server.port }
    public var url: URL {
        let host = server.localAddress?.ipAddress ?? "127.0.0.1"
        return URL(string: "http://\(host.contains(":") ? "[\(host)]" : host):\(port)")!
    }

    public func stop() async { await server.stop() }

    /// Returns when the server has stopped.
    public func wait() async { await server.wait() }

    /// The simulator's (or the control API's) answer; nil drops the connection (an injected fault).
    static func respond(simulator: EC2Simulator, request: HTTPServerRequest) async -> HTTPServerResponse? {
        let host = request.headers.first(name: "host") ?? "localhost"
        let url = URL(string: "http://\(host)\(request.uri)") ?? URL(string: "http://localhost/")!
        if url.path.hasPrefix("/_sim/") {
            return SimControlAPI.handle(simulator: simulator, method: request.method, path: url.path, body: request.bodyBytes)
        }
        let response = await simulator.handle(method: "\(request.method.rawValue)", url: url,
                                              headers: request.headers.map { ($0.name, $0.value) }, body: request.bodyBytes)
        guard !response.drop else { return nil }
        return HTTPServerResponse(status: .init(statusCode: response.status), contentType: "text/xml;charset=UTF-8", text: response.body)
    }
}

/// The `/_sim/` control API (see ``EC2SimServer``).
enum SimControlAPI {
    static func handle(simulator: EC2Simulator, method: HTTPMethod, path: String, body: [UInt8]) -> HTTPServerResponse {
        func json(_ status: Int, _ object: Any) -> HTTPServerResponse {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            return HTTPServerResponse(status: .init(statusCode: status), contentType: "application/json", body: Array(data))
        }
        let request = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        switch (method, path) {
        case (.GET, "/_sim/state"):
            let (calls, throttled) = simulator.calls
            return json(200, ["summary": simulator.summary, "violations": simulator.invariantViolations(), "calls": calls, "throttled": throttled])
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
        case (.GET, "/_sim/throttle"):
            let (nonMutating, mutating, actions) = simulator.throttle.buckets
            func bucket(_ b: SimThrottle.Bucket) -> [String: Any] { ["capacity": b.capacity, "refill_per_second": b.refillPerSecond] }
            return json(200, ["non_mutating": bucket(nonMutating), "mutating": bucket(mutating), "actions": actions.mapValues(bucket)])
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
