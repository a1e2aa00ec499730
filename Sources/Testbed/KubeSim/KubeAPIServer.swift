import Foundation
import HTTPServing
import Kubernetes
import NIOSSL
import VPCNetCore

/// Serves ``KubeAPI`` over HTTP/1.1; watches stream newline-delimited JSON events in a chunked
/// response until their timeout, the client leaving, or the store closing them.
public final class KubeAPIServer: Sendable {
    public let api: KubeAPI
    /// The generated CA and certificates when serving HTTPS.
    public let certificates: SimCertificates?
    private let server: HTTPServer

    private init(api: KubeAPI, certificates: SimCertificates?, server: HTTPServer) {
        self.api = api
        self.certificates = certificates
        self.server = server
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
        let server = try await HTTPServer.start(host: host, port: port, configuration: configuration(tls: context)) { await respond(api, $0) }
        return KubeAPIServer(api: api, certificates: certificates, server: server)
    }

    /// Serves `api` over plain HTTP on a socket that is already bound and listening, e.g. one
    /// opened inside another network namespace (the simulated VPC).
    public static func start(_ api: KubeAPI, listeningSocket: CInt) async throws -> KubeAPIServer {
        let server = try await HTTPServer.start(listeningSocket: listeningSocket, configuration: configuration(tls: nil)) { await respond(api, $0) }
        return KubeAPIServer(api: api, certificates: nil, server: server)
    }

    static func configuration(tls: NIOSSLContext?) -> HTTPServer.Configuration {
        HTTPServer.Configuration(maxBodyBytes: KubeAPI.maxBodyBytes, tls: tls) { _ in
            reply(.object(status: 413, KubeStatusError(code: 413, reason: "RequestEntityTooLarge", message: "the request body is too large").status))
        }
    }

    public var port: Int { server.port }
    public var url: URL {
        let host = server.localAddress?.ipAddress ?? "127.0.0.1"
        return URL(string: "\(certificates == nil ? "http" : "https")://\(host.contains(":") ? "[\(host)]" : host):\(port)")!
    }

    /// A connection for vpcnet's client, with the CA, the admin client certificate and an accepted token.
    public func connection() -> KubeConnection {
        KubeConnection(server: url, token: api.tokens.any, caPEM: certificates?.caPEM,
                       clientCertificatePEM: certificates?.clientCertificatePEM, clientKeyPEM: certificates?.clientKeyPEM)
    }

    public func stop() async {
        api.store.closeWatches()
        await server.stop()
    }

    /// Returns when the server has stopped.
    public func wait() async { await server.wait() }

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

extension KubeAPIServer {
    /// One request through ``KubeAPI``.
    static func respond(_ api: KubeAPI, _ request: HTTPServerRequest) async -> HTTPServerResponse {
        // Go clients form-encode queries: there '+' is a space (e.g. in "app in (a,b)" selectors).
        // Only the query is form-encoded; the path is left as sent.
        var uri = request.uri
        if let mark = uri.firstIndex(of: "?") {
            uri = String(uri[...mark]) + uri[uri.index(after: mark)...].replacingOccurrences(of: "+", with: "%20")
        }
        let components = URLComponents(string: uri)
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        var caller = KubeAPI.Caller(verifiedClientCertificate: request.verifiedClientCertificate, userAgent: request.headers.first(name: "user-agent"),
                                    accept: request.headers.first(name: "accept"))
        if let authorization = request.headers.first(name: "authorization"), authorization.lowercased().hasPrefix("bearer ") {
            caller.bearerToken = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        return reply(await api.handle(method: request.method.rawValue, path: components?.path ?? request.uri, query: query,
                                      contentType: request.headers.first(name: "content-type"), body: request.bodyBytes, caller: caller))
    }

    /// An object as JSON; a watch as newline-delimited JSON events, chunked, until its timeout,
    /// the client leaving, or the store closing it.
    static func reply(_ reply: KubeAPI.Reply) -> HTTPServerResponse {
        switch reply {
        case .object(let status, let object):
            return HTTPServerResponse(status: .init(statusCode: status), contentType: "application/json", text: object.serialized())
        case .bytes(let status, let contentType, let bytes):
            return HTTPServerResponse(status: .init(statusCode: status), contentType: contentType, body: bytes)
        case .watch(let stream, let timeout):
            return HTTPServerResponse(status: .ok, headers: ["Content-Type": "application/json"], body: .stream { writer in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // Events (bookmarks included) arrive in the order the store queued them.
                        for await event in stream {
                            try await writer.write((["type": .string(event.kind.rawValue), "object": event.object] as JSONValue).serialized() + "\n")
                        }
                    }
                    // The first child to finish ends the watch: the stream closing, or the timeout.
                    group.addTask { try await Task.sleep(for: timeout) }
                    _ = try await group.next()
                    group.cancelAll()
                }
            })
        }
    }
}
