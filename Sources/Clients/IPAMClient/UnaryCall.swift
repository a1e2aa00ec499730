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
    case status(code: Int, message: String)
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
        case .status(let code, _): code == 14  // UNAVAILABLE
        case .deadlineExceeded, .protocolViolation: false
        }
    }

    private func attempt(path: String, request: [UInt8]) throws(IPAMCallError) -> [UInt8] {
        let fd = try connect()
        defer { close(fd) }
        var out: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        out += Self.frame(type: 0x4, flags: 0, stream: 0, payload: [])  // SETTINGS, defaults
        var headers = HPACKHeaders([(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                                    ("content-type", "application/grpc"), ("te", "trailers"),
                                    ("grpc-timeout", "\(max(1, Int((deadline &- Self.now()) / 1_000_000)))m")])
        var encoder = HPACKEncoder(allocator: ByteBufferAllocator(), useHuffmanEncoding: false)
        var block = ByteBuffer()
        do { try encoder.encode(headers: headers, to: &block) } catch { throw .protocolViolation("cannot encode headers: \(error)") }
        headers = [:]
        out += Self.frame(type: 0x1, flags: 0x4, stream: 1, payload: Array(block.readableBytesView))  // HEADERS, END_HEADERS
        var message: [UInt8] = [0] + Self.bigEndian32(UInt32(request.count)) + request
        // DATA frames within the default maximum frame size (16 KiB).
        repeat {
            let chunk = Array(message.prefix(16_384))
            message.removeFirst(chunk.count)
            out += Self.frame(type: 0x0, flags: message.isEmpty ? 0x1 : 0, stream: 1, payload: chunk)
        } while !message.isEmpty
        try send(fd, out)
        return try readResponse(fd)
    }

    private func readResponse(_ fd: Int32) throws(IPAMCallError) -> [UInt8] {
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
        var input: [UInt8] = []
        var body: [UInt8] = []
        var block: [UInt8] = []
        var blockEndsStream = false
        var status: String?
        while true {
            while input.count < 9 || input.count < 9 + Self.length(input) {
                try receive(fd, into: &input)
            }
            let length = Self.length(input), type = input[3], flags = input[4]
            let stream = Self.bigEndian32(input[5..<9]) & 0x7fff_ffff
            var payload = Array(input[9..<(9 + length)])
            input.removeFirst(9 + length)
            switch type {
            case 0x0 where stream == 1:  // DATA
                if flags & 0x8 != 0 { payload = try Self.unpad(payload) }
                body += payload
                guard body.count <= Self.maxResponseBytes else { throw .protocolViolation("response larger than \(Self.maxResponseBytes) bytes") }
                if !payload.isEmpty {
                    let increment = Self.bigEndian32(UInt32(payload.count))
                    try send(fd, Self.frame(type: 0x8, flags: 0, stream: 0, payload: increment) + Self.frame(type: 0x8, flags: 0, stream: 1, payload: increment))
                }
                if flags & 0x1 != 0 { throw .protocolViolation("the stream ended without trailers") }
            case 0x1 where stream == 1, 0x9 where stream == 1:  // HEADERS, CONTINUATION
                if type == 0x1 {
                    if flags & 0x8 != 0 { payload = try Self.unpad(payload) }
                    if flags & 0x20 != 0 { payload.removeFirst(min(5, payload.count)) }  // PRIORITY
                    blockEndsStream = flags & 0x1 != 0
                    block = []
                }
                block += payload
                guard flags & 0x4 != 0 else { continue }  // more CONTINUATION to come
                var buffer = ByteBuffer(bytes: block)
                let fields: HPACKHeaders
                do { fields = try decoder.decodeHeaders(from: &buffer) } catch { throw .protocolViolation("bad header block: \(error)") }
                if let httpStatus = fields.first(name: ":status"), httpStatus != "200" {
                    throw .protocolViolation("HTTP status \(httpStatus)")
                }
                if let grpcStatus = fields.first(name: "grpc-status") { status = grpcStatus }
                guard blockEndsStream else { continue }
                let code = Int(status ?? "") ?? 2
                guard code == 0 else { throw .status(code: code, message: Self.percentDecoded(fields.first(name: "grpc-message") ?? "")) }
                return try Self.message(body)
            case 0x3:  // RST_STREAM
                let code = Self.bigEndian32(payload.prefix(4))
                // REFUSED_STREAM or CANCEL of our call: the daemon dropped it unanswered (it is
                // stopping), so it may be repeated; anything else is a fault worth reporting.
                if stream == 1 && (code == 7 || code == 8) { throw .unreachable("the daemon reset the stream (error \(code))") }
                throw .protocolViolation("the daemon reset stream \(stream) (error \(code))")
            case 0x4 where flags & 0x1 == 0:  // SETTINGS: acknowledge
                try send(fd, Self.frame(type: 0x4, flags: 0x1, stream: 0, payload: []))
            case 0x6 where flags & 0x1 == 0:  // PING: answer
                try send(fd, Self.frame(type: 0x6, flags: 0x1, stream: 0, payload: payload))
            case 0x7:  // GOAWAY: a graceful one (no error, our stream included) still finishes stream 1.
                let lastStream = Self.bigEndian32(payload.prefix(4)) & 0x7fff_ffff, code = Self.bigEndian32(payload.dropFirst(4).prefix(4))
                if lastStream < 1 || code != 0 { throw .unreachable("the daemon is shutting down") }
            default:
                continue  // SETTINGS ACK, WINDOW_UPDATE, PRIORITY, frames of other streams
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

    // MARK: - Framing

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags] + bigEndian32(stream) + payload
    }

    static func length(_ input: [UInt8]) -> Int { Int(input[0]) << 16 | Int(input[1]) << 8 | Int(input[2]) }

    static func bigEndian32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    static func bigEndian32(_ bytes: some Collection<UInt8>) -> UInt32 {
        bytes.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func unpad(_ payload: [UInt8]) throws(IPAMCallError) -> [UInt8] {
        guard let padding = payload.first, Int(padding) < payload.count else { throw .protocolViolation("bad padding") }
        return Array(payload[1..<(payload.count - Int(padding))])
    }

    /// The one gRPC message in a unary response body.
    static func message(_ body: [UInt8]) throws(IPAMCallError) -> [UInt8] {
        guard body.count >= 5 else { throw .protocolViolation("no response message") }
        guard body[0] == 0 else { throw .protocolViolation("compressed response") }
        let length = Int(bigEndian32(body[1..<5]))
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
