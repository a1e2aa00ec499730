import HTTPServing
import NIOCore
import NIOHTTP1
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
    private let server = Mutex<HTTPServer?>(nil)
    var port: Int { server.withLock { $0?.port ?? 0 } }

    init(script: [Behaviour], fallback: Behaviour = .respond(status: 500, body: "script exhausted")) {
        self.script = Mutex(script)
        self.fallback = fallback
    }

    var url: String { "http://127.0.0.1:\(port)/" }
    var requests: [Received] { received.withLock { $0 } }

    func start() async throws {
        let started = try await HTTPServer.start(host: "127.0.0.1", port: 0) { request in
            let behaviour = self.next(Received(method: "\(request.method)", uri: request.uri, headers: request.headers.map { ($0.name, $0.value) },
                                               body: String(decoding: request.bodyBytes, as: UTF8.self)))
            return await Self.perform(behaviour)
        }
        server.withLock { $0 = started }
    }

    func stop() async { await server.withLock { $0 }?.stop() }

    private func next(_ request: Received) -> Behaviour {
        received.withLock { $0.append(request) }
        return script.withLock { $0.isEmpty ? fallback : $0.removeFirst() }
    }

    private static func perform(_ behaviour: Behaviour) async -> HTTPServerResponse? {
        switch behaviour {
        case .respond(let status, let text, let extra):
            var headers = HTTPHeaders(extra)
            if !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: "text/xml;charset=UTF-8") }
            return HTTPServerResponse(status: .init(statusCode: status), headers: headers, body: .bytes(ByteBuffer(string: text)))
        case .drop:
            return nil
        case .delay(let duration, let inner):
            try? await Task.sleep(for: duration)
            return await perform(inner)
        case .truncate(let status, let text, let declared):
            return HTTPServerResponse(status: .init(statusCode: status), headers: ["Content-Length": String(declared), "Content-Type": "text/xml"],
                                      body: .bytes(ByteBuffer(string: text)), closeConnection: true)
        }
    }
}
