/// HTTP/2 framing (RFC 9113, section 4.1 and 6) for exactly what a unary gRPC call needs. Written
/// by hand for the CNI plugin's start-up cost (see ``UnaryCall``); header blocks come from
/// swift-nio-http2's HPACK.
struct HTTP2Frame: Equatable {
    /// The frame types (RFC 9113, section 6).
    enum Kind: UInt8 {
        case data = 0x0
        case headers = 0x1
        case priority = 0x2
        case resetStream = 0x3
        case settings = 0x4
        case pushPromise = 0x5
        case ping = 0x6
        case goAway = 0x7
        case windowUpdate = 0x8
        case continuation = 0x9
    }

    /// Frame flags; which apply depends on the frame type.
    struct Flags: OptionSet, Equatable {
        let rawValue: UInt8
        /// DATA, HEADERS: the last frame of the stream from its sender.
        static let endStream = Flags(rawValue: 0x1)
        /// SETTINGS, PING: an acknowledgement (the same bit as END_STREAM).
        static let ack = Flags(rawValue: 0x1)
        /// HEADERS, CONTINUATION: the header block is complete.
        static let endHeaders = Flags(rawValue: 0x4)
        /// DATA, HEADERS: a pad length byte leads the payload, padding ends it.
        static let padded = Flags(rawValue: 0x8)
        /// HEADERS: 5 bytes of priority (dependency, weight) follow any pad length.
        static let priority = Flags(rawValue: 0x20)
    }

    /// Error codes of RST_STREAM and GOAWAY (RFC 9113, section 7) the client tells apart.
    enum ErrorCode: UInt32 {
        case noError = 0x0
        case refusedStream = 0x7
        case cancel = 0x8
    }

    static let headerLength = 9
    /// SETTINGS_MAX_FRAME_SIZE's initial value: the largest payload a peer accepts without saying otherwise.
    static let defaultMaxPayload = 16_384

    /// The raw type, so frames of types this client does not know are still read (and skipped).
    var type: UInt8
    var flags: Flags
    var stream: UInt32
    var payload: [UInt8]

    init(_ kind: Kind, flags: Flags = [], stream: UInt32 = 0, payload: [UInt8] = []) {
        self.init(type: kind.rawValue, flags: flags, stream: stream, payload: payload)
    }

    init(type: UInt8, flags: Flags, stream: UInt32, payload: [UInt8]) {
        self.type = type
        self.flags = flags
        self.stream = stream
        self.payload = payload
    }

    var kind: Kind? { Kind(rawValue: type) }

    var bytes: [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags.rawValue]
            + Self.bigEndian32(stream & 0x7fff_ffff) + payload
    }

    /// The first whole frame of `input`, removed from it; nil while it is incomplete.
    static func next(from input: inout [UInt8]) -> HTTP2Frame? {
        guard input.count >= headerLength else { return nil }
        let length = Int(input[0]) << 16 | Int(input[1]) << 8 | Int(input[2])
        guard input.count >= headerLength + length else { return nil }
        let frame = HTTP2Frame(type: input[3], flags: Flags(rawValue: input[4]), stream: bigEndian32(input[5..<9]) & 0x7fff_ffff,
                               payload: Array(input[headerLength..<(headerLength + length)]))
        input.removeFirst(headerLength + length)
        return frame
    }

    /// The payload of a DATA or HEADERS frame without its padding (and a HEADERS frame's priority).
    func content() throws(IPAMCallError) -> [UInt8] {
        var content = payload
        if flags.contains(.padded) {
            guard let padding = content.first, Int(padding) < content.count else { throw .protocolViolation("bad padding") }
            content = Array(content[1..<(content.count - Int(padding))])
        }
        if kind == .headers && flags.contains(.priority) { content.removeFirst(min(5, content.count)) }
        return content
    }

    static func bigEndian32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    static func bigEndian32(_ bytes: some Collection<UInt8>) -> UInt32 {
        bytes.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }
}
