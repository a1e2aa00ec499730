#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOHPACK

/// Why a call to the daemon failed.
public enum IPAMCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Nothing answers on the socket (missing, refused): the daemon is not running.
    case unreachable(String)
    case deadlineExceeded
    /// The daemon answered with a gRPC status other than OK.
    case status(code: GRPCStatusCode, message: String)
    /// The bytes on the socket were not the gRPC we expect.
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .unreachable(let reason): "the vpcnet daemon is unreachable: \(reason)"
        case .deadlineExceeded: "the vpcnet daemon did not answer in time"
        case .status(let code, let message): "the vpcnet daemon refused (gRPC status \(code)): \(message)"
        case .protocolViolation(let detail): "unexpected answer from the vpcnet daemon: \(detail)"
        }
    }
}

/// One unary gRPC call over HTTP/2 (h2c) on a unix socket, blocking, with a deadline.
///
/// Hand-written because the CNI plugin is exec'd once per pod: grpc-swift's client costs 12–16 ms
/// and 22 MB per process here (event loops, HTTP/2 state machines), against about 1–2 ms for this
/// (../shared/notes/swift-toolchain.md). It speaks exactly what a unary call needs: the preface,
/// SETTINGS (and their ACK), one HEADERS + DATA out, HEADERS/DATA/trailers in, WINDOW_UPDATE for
/// what it reads, PING replies. Header blocks use swift-nio-http2's HPACK.
struct UnaryCall {
    let socketPath: String
    /// Monotonic deadline, nanoseconds (CLOCK_MONOTONIC).
    let deadline: UInt64

    static let maxResponseBytes = 4 << 20

    /// How long a call keeps being repeated, from its first failure, while the daemon is away or
    /// not ready: a daemon handing over to its successor (a rolling update) is back well within
    /// it. Beyond it the daemon is down, and the caller fails fast (ADD) or spools (DEL).
    static let handoverWindow: UInt64 = 1_000_000_000

    /// The call, repeated within ``handoverWindow`` of its first failure (and within the
    /// deadline) while nothing listens, the connection breaks before an answer, or the daemon
    /// answers UNAVAILABLE (not configured yet). The window starts at the first failure, not at
    /// the call: a call the stopping daemon held until it closed must still leave its successor
    /// the whole window. Every IPAM call is idempotent: an ADD repeated for an attachment gets
    /// the same address.
    func call(path: String, request: [UInt8]) throws(IPAMCallError) -> [UInt8] {
        var giveUp: UInt64?
        while true {
            do {
                return try attempt(path: path, request: request)
            } catch {
                let end = giveUp ?? min(deadline, Self.now() &+ Self.handoverWindow)
                giveUp = end
                guard Self.isTransient(error), Self.now() &+ 50_000_000 < end else { throw error }
                usleep(50_000)
            }
        }
    }

    static func isTransient(_ error: IPAMCallError) -> Bool {
        switch error {
        case .unreachable: true
        case .status(let code, _): code == .unavailable
        case .deadlineExceeded, .protocolViolation: false
        }
    }

    private func attempt(path: String, request: [UInt8]) throws(IPAMCallError) -> [UInt8] {
        let fd = try connect()
        defer { close(fd) }
        var out: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        out += HTTP2Frame(.settings).bytes  // the defaults
        var headers = HPACKHeaders([(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                                    ("content-type", "application/grpc"), ("te", "trailers"),
                                    ("grpc-timeout", "\(max(1, Int((deadline &- Self.now()) / 1_000_000)))m")])
        var encoder = HPACKEncoder(allocator: ByteBufferAllocator(), useHuffmanEncoding: false)
        var block = ByteBuffer()
        do { try encoder.encode(headers: headers, to: &block) } catch { throw .protocolViolation("cannot encode headers: \(error)") }
        headers = [:]
        out += HTTP2Frame(.headers, flags: .endHeaders, stream: 1, payload: Array(block.readableBytesView)).bytes
        var message: [UInt8] = [0] + HTTP2Frame.bigEndian32(UInt32(request.count)) + request
        // DATA frames within the default maximum frame size.
        repeat {
            let chunk = Array(message.prefix(HTTP2Frame.defaultMaxPayload))
            message.removeFirst(chunk.count)
            out += HTTP2Frame(.data, flags: message.isEmpty ? .endStream : [], stream: 1, payload: chunk).bytes
        } while !message.isEmpty
        try send(fd, out)
        return try readResponse(fd)
    }

    /// Stream 1's response: HEADERS, DATA, trailers (a HEADERS block that ends the stream, maybe
    /// continued in CONTINUATION frames), answering SETTINGS and PING and opening the window on the way.
    private func readResponse(_ fd: Int32) throws(IPAMCallError) -> [UInt8] {
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
        var input: [UInt8] = []
        var body: [UInt8] = []
        var block: [UInt8] = []
        var blockEndsStream = false
        var status: String?
        while true {
            var next = HTTP2Frame.next(from: &input)
            while next == nil {
                try receive(fd, into: &input)
                next = HTTP2Frame.next(from: &input)
            }
            guard let frame = next else { continue }
            switch (frame.kind, frame.stream) {
            case (.data?, 1):
                let payload = try frame.content()
                body += payload
                guard body.count <= Self.maxResponseBytes else { throw .protocolViolation("response larger than \(Self.maxResponseBytes) bytes") }
                if !payload.isEmpty {
                    let increment = HTTP2Frame.bigEndian32(UInt32(payload.count))
                    try send(fd, HTTP2Frame(.windowUpdate, payload: increment).bytes + HTTP2Frame(.windowUpdate, stream: 1, payload: increment).bytes)
                }
                if frame.flags.contains(.endStream) { throw .protocolViolation("the stream ended without trailers") }
            case (.headers?, 1), (.continuation?, 1):
                if frame.kind == .headers {
                    blockEndsStream = frame.flags.contains(.endStream)
                    block = try frame.content()
                } else {
                    block += frame.payload
                }
                guard frame.flags.contains(.endHeaders) else { continue }  // more CONTINUATION to come
                var buffer = ByteBuffer(bytes: block)
                let fields: HPACKHeaders
                do { fields = try decoder.decodeHeaders(from: &buffer) } catch { throw .protocolViolation("bad header block: \(error)") }
                if let httpStatus = fields.first(name: ":status"), httpStatus != "200" {
                    throw .protocolViolation("HTTP status \(httpStatus)")
                }
                if let grpcStatus = fields.first(name: "grpc-status") { status = grpcStatus }
                guard blockEndsStream else { continue }
                let code = Int(status ?? "").map(GRPCStatusCode.init(rawValue:)) ?? .unknown
                guard code == .ok else { throw .status(code: code, message: Self.percentDecoded(fields.first(name: "grpc-message") ?? "")) }
                return try Self.message(body)
            case (.resetStream?, _):
                let code = HTTP2Frame.ErrorCode(rawValue: HTTP2Frame.bigEndian32(frame.payload))
                // REFUSED_STREAM or CANCEL of our call: the daemon dropped it unanswered (it is
                // stopping), so it may be repeated; anything else is a fault worth reporting.
                if frame.stream == 1 && (code == .refusedStream || code == .cancel) {
                    throw .unreachable("the daemon reset the stream (error \(HTTP2Frame.bigEndian32(frame.payload)))")
                }
                throw .protocolViolation("the daemon reset stream \(frame.stream) (error \(HTTP2Frame.bigEndian32(frame.payload)))")
            case (.settings?, _) where !frame.flags.contains(.ack):
                try send(fd, HTTP2Frame(.settings, flags: .ack).bytes)
            case (.ping?, _) where !frame.flags.contains(.ack):
                try send(fd, HTTP2Frame(.ping, flags: .ack, payload: frame.payload).bytes)
            case (.goAway?, _):
                // A graceful GOAWAY (no error, our stream included) still finishes stream 1.
                let lastStream = HTTP2Frame.bigEndian32(frame.payload) & 0x7fff_ffff
                let code = HTTP2Frame.bigEndian32(frame.payload.dropFirst(4))
                if lastStream < 1 || code != HTTP2Frame.ErrorCode.noError.rawValue { throw .unreachable("the daemon is shutting down") }
            default:
                continue  // SETTINGS ACK, WINDOW_UPDATE, PRIORITY, unknown types, frames of other streams
            }
        }
    }

    // MARK: - Socket

    private func connect() throws(IPAMCallError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .unreachable("socket: \(Self.errorText())") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw .unreachable("socket path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        // A unix connect blocks while the daemon's accept backlog is full: bound it by the deadline.
        let remaining = deadline > Self.now() ? deadline - Self.now() : 1_000_000
        var limit = timeval(tv_sec: Int(remaining / 1_000_000_000), tv_usec: Int(remaining % 1_000_000_000 / 1000))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let code = errno, reason = Self.errorText()
            close(fd)
            if code == EAGAIN || code == EINPROGRESS { throw .deadlineExceeded }
            throw .unreachable("\(socketPath): \(reason)")
        }
        return fd
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) throws(IPAMCallError) {
        var sent = 0
        while sent < bytes.count {
            try wait(fd, events: Int16(POLLOUT))
            let count = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .unreachable("send: \(Self.errorText())")
            }
            sent += count
        }
    }

    private func receive(_ fd: Int32, into input: inout [UInt8]) throws(IPAMCallError) {
        try wait(fd, events: Int16(POLLIN))
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 {
            if errno == EINTR || errno == EAGAIN { return }
            throw .unreachable("recv: \(Self.errorText())")
        }
        if count == 0 { throw .unreachable("the daemon closed the connection") }
        input += buffer[..<count]
    }

    private func wait(_ fd: Int32, events: Int16) throws(IPAMCallError) {
        while true {
            let now = Self.now()
            guard now < deadline else { throw .deadlineExceeded }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let result = poll(&entry, 1, Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000 + 1)))
            if result > 0 { return }
            if result < 0 && errno != EINTR { throw .unreachable("poll: \(Self.errorText())") }
        }
    }

    // MARK: - gRPC

    /// The one gRPC message in a unary response body.
    static func message(_ body: [UInt8]) throws(IPAMCallError) -> [UInt8] {
        guard body.count >= 5 else { throw .protocolViolation("no response message") }
        guard body[0] == 0 else { throw .protocolViolation("compressed response") }
        let length = Int(HTTP2Frame.bigEndian32(body[1..<5]))
        guard body.count == 5 + length else { throw .protocolViolation("response message of \(body.count - 5) bytes, framed as \(length)") }
        return Array(body[5...])
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
               let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
