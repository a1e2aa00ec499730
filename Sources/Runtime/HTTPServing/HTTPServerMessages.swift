import NIOCore
import NIOHTTP1

/// One request, whole: its body is collected up to the server's limit before a handler sees it.
public struct HTTPServerRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: ByteBuffer
    /// The peer's address (the metadata service knows its caller by it).
    public var remoteAddress: SocketAddress?
    /// The peer presented a TLS client certificate that the server's trust roots verified.
    public var verifiedClientCertificate: Bool

    public var method: HTTPMethod { head.method }
    public var uri: String { head.uri }
    public var headers: HTTPHeaders { head.headers }
    /// The URI without its query.
    public var path: String { head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri }
    public var bodyBytes: [UInt8] { Array(body.readableBytesView) }
}

/// What a handler answers. A streamed body is written by its producer while the client stays;
/// the producer is cancelled when the client goes away.
public struct HTTPServerResponse: Sendable {
    public enum Body: Sendable {
        case bytes(ByteBuffer)
        /// Sent chunked unless the headers say otherwise; ends when the producer returns.
        case stream(@Sendable (HTTPBodyWriter) async throws -> Void)
    }

    public var status: HTTPResponseStatus
    /// `Content-Length` is added for a `bytes` body unless given (a test server may declare a
    /// length it does not send).
    public var headers: HTTPHeaders
    public var body: Body
    /// Close the connection once the response is written.
    public var closeConnection: Bool

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: Body, closeConnection: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.closeConnection = closeConnection
    }

    /// A whole body with its content type.
    public init(status: HTTPResponseStatus, contentType: String, body: [UInt8], closeConnection: Bool = false) {
        self.init(status: status, headers: ["Content-Type": contentType], body: .bytes(ByteBuffer(bytes: body)), closeConnection: closeConnection)
    }

    public init(status: HTTPResponseStatus, contentType: String, text: String, closeConnection: Bool = false) {
        self.init(status: status, contentType: contentType, body: Array(text.utf8), closeConnection: closeConnection)
    }
}

/// Writes the chunks of a streamed response body; each write returns once it is on the wire.
public struct HTTPBodyWriter: Sendable {
    let channel: any Channel

    public func write(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(bytes))).get()
    }
    public func write(_ text: String) async throws { try await write(ByteBuffer(string: text)) }
}
