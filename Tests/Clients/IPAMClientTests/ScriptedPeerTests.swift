import Foundation
@testable import IPAMClient
import IPAMProto
import NIOCore
import NIOHPACK
import Synchronization
import Testing
import TestSupport

/// A raw HTTP/2 peer on a unix socket: for every connection it reads the client's request (to
/// its END_STREAM), records the frames, writes the scripted answer, and reads what follows until
/// the client closes. What grpc-swift never sends on its own (padding, CONTINUATION, a GOAWAY
/// mid-call, resets) is written here frame by frame.
final class ScriptedPeer: Sendable {
    let path = Scratch.path("h2") + ".sock"
    private let listener: Int32
    private let received = Mutex<[[HTTP2Frame]]>([])
    private let script: @Sendable () -> [HTTP2Frame]
    private let stopped = DispatchSemaphore(value: 0)

    /// Frames the client sent, per connection, once `count` connections have ended (or 5 s passed).
    func connections(atLeast count: Int = 1) -> [[HTTP2Frame]] {
        let deadline = ContinuousClock.now + .seconds(5)
        while received.withLock({ $0.count }) < count && ContinuousClock.now < deadline { usleep(10_000) }
        return received.withLock { $0 }
    }

    init(_ script: @escaping @Sendable () -> [HTTP2Frame]) throws {
        self.script = script
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (index, byte) in path.utf8.enumerated() { raw[index] = byte } }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 8) == 0 else { throw POSIXError(.EADDRINUSE) }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Stops accepting and waits for the accepting thread to end before the socket is closed: a
    /// closed descriptor's number is soon another test's listener, which that thread must not accept on.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        stopped.wait()
        close(listener)
        unlink(path)
    }

    private func acceptLoop() {
        defer { stopped.signal() }
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            serve(fd)
            close(fd)
        }
    }

    private func serve(_ fd: Int32) {
        var input: [UInt8] = []
        var frames: [HTTP2Frame] = []
        func read() -> Bool {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return false }
            input += buffer[..<count]
            return true
        }
        let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        while input.count < preface.count { guard read() else { return } }
        input.removeFirst(preface.count)
        // The request, to the end of stream 1.
        while !frames.contains(where: { $0.kind == .data && $0.stream == 1 && $0.flags.contains(.endStream) }) {
            if let frame = HTTP2Frame.next(from: &input) { frames.append(frame) } else if !read() { break }
        }
        let answer = script().flatMap(\.bytes)
        _ = answer.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // What the client sends after the answer (acknowledgements), until it closes.
        var pollEntry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while poll(&pollEntry, 1, 2000) > 0, read() {
            while let frame = HTTP2Frame.next(from: &input) { frames.append(frame) }
        }
        while let frame = HTTP2Frame.next(from: &input) { frames.append(frame) }
        received.withLock { $0.append(frames) }
    }
}

/// Header blocks and messages for scripted answers.
enum Answer {
    static func block(_ fields: [(String, String)]) -> [UInt8] {
        var encoder = HPACKEncoder(allocator: ByteBufferAllocator(), useHuffmanEncoding: true)
        var buffer = ByteBuffer()
        try! encoder.encode(headers: HPACKHeaders(fields), to: &buffer)
        return Array(buffer.readableBytesView)
    }

    static let responseHeaders = block([(":status", "200"), ("content-type", "application/grpc")])
    static func trailers(_ status: Int = 0, _ message: String? = nil) -> [UInt8] {
        block([("grpc-status", "\(status)")] + (message.map { [("grpc-message", $0)] } ?? []))
    }

    /// The length-prefixed gRPC message of an Add answer.
    static var addMessage: [UInt8] {
        let bytes: [UInt8] = try! Vpcnet_Ipam_V1_AddResponse.with { $0.address = "10.0.1.9"; $0.prefixLength = 20; $0.gateway = "10.0.0.11" }
            .serializedBytes()
        return [0] + HTTP2Frame.bigEndian32(UInt32(bytes.count)) + bytes
    }

    static func padded(_ payload: [UInt8], by padding: UInt8) -> [UInt8] { [padding] + payload + [UInt8](repeating: 0, count: Int(padding)) }
}

@Suite struct ScriptedPeerTests {
    func add(_ peer: ScriptedPeer, timeoutMilliseconds: Int = 2000) throws(IPAMCallError) -> Vpcnet_Ipam_V1_AddResponse {
        try IPAMClient(socketPath: peer.path, timeoutMilliseconds: timeoutMilliseconds).add(.with { $0.attachment.containerID = "abc" })
    }

    @Test func theRequestIsOneHeadersAndOneDataFrameAfterTheSettings() throws {
        let peer = try ScriptedPeer {
            [HTTP2Frame(.headers, flags: .endHeaders, stream: 1, payload: Answer.responseHeaders),
             HTTP2Frame(.data, stream: 1, payload: Answer.addMessage),
             HTTP2Frame(.headers, flags: [.endHeaders, .endStream], stream: 1, payload: Answer.trailers())]
        }
        defer { peer.stop() }
        #expect(try add(peer).address == "10.0.1.9")
        let sent = try #require(peer.connections().first)
        #expect(sent.map(\.kind) == [.settings, .headers, .data, .windowUpdate, .windowUpdate])
        #expect(sent[1].stream == 1 && sent[1].flags == .endHeaders && sent[2].flags == .endStream)
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
        var block = ByteBuffer(bytes: sent[1].payload)
        let fields = try decoder.decodeHeaders(from: &block)
        #expect(fields.first(name: ":path") == "/vpcnet.ipam.v1.IPAM/Add" && fields.first(name: "te") == "trailers")
        #expect(fields.first(name: "content-type") == "application/grpc" && fields.first(name: "grpc-timeout")?.hasSuffix("m") == true)
    }

    @Test func paddedFramesPriorityAndContinuationAreRead() throws {
        let trailers = Answer.trailers()
        let peer = try ScriptedPeer {
            [HTTP2Frame(.headers, flags: [.endHeaders, .padded, .priority], stream: 1,
                        payload: Answer.padded([0, 0, 0, 0, 15] + Answer.responseHeaders, by: 7)),
             HTTP2Frame(.data, flags: .padded, stream: 1, payload: Answer.padded(Array(Answer.addMessage.prefix(4)), by: 3)),
             HTTP2Frame(.data, flags: .padded, stream: 1, payload: Answer.padded(Array(Answer.addMessage.dropFirst(4)), by: 0)),
             // The trailers in three pieces: HEADERS without END_HEADERS, then CONTINUATION frames.
             HTTP2Frame(.headers, flags: .endStream, stream: 1, payload: Array(trailers.prefix(1))),
             HTTP2Frame(.continuation, stream: 1, payload: Array(trailers.dropFirst(1).prefix(1))),
             HTTP2Frame(.continuation, flags: .endHeaders, stream: 1, payload: Array(trailers.dropFirst(2)))]
        }
        defer { peer.stop() }
        let answer = try add(peer)
        #expect(answer.address == "10.0.1.9" && answer.gateway == "10.0.0.11")
    }

    @Test func settingsAndPingsAreAnsweredAndOtherFramesSkipped() throws {
        let peer = try ScriptedPeer {
            [HTTP2Frame(.settings, payload: [0, 3, 0, 0, 0, 100]),
             HTTP2Frame(.ping, payload: Array("vpcnet!!".utf8)),
             HTTP2Frame(type: 0xfa, flags: [], stream: 0, payload: [1, 2, 3]),  // an extension frame type
             HTTP2Frame(.windowUpdate, payload: [0, 0, 1, 0]),
             HTTP2Frame(.headers, flags: .endHeaders, stream: 3, payload: Answer.responseHeaders),  // another stream's
             HTTP2Frame(.headers, flags: .endHeaders, stream: 1, payload: Answer.responseHeaders),
             HTTP2Frame(.data, stream: 1, payload: Answer.addMessage),
             HTTP2Frame(.headers, flags: [.endHeaders, .endStream], stream: 1, payload: Answer.trailers())]
        }
        defer { peer.stop() }
        #expect(try add(peer).address == "10.0.1.9")
        let sent = try #require(peer.connections().first)
        #expect(sent.contains { $0.kind == .settings && $0.flags == .ack && $0.payload.isEmpty })
        #expect(sent.contains { $0.kind == .ping && $0.flags == .ack && $0.payload == Array("vpcnet!!".utf8) })
    }

    @Test func aGracefulGoAwayThatIncludesTheCallStillFinishesIt() throws {
        let peer = try ScriptedPeer {
            [HTTP2Frame(.goAway, payload: HTTP2Frame.bigEndian32(1) + HTTP2Frame.bigEndian32(0)),
             HTTP2Frame(.headers, flags: .endHeaders, stream: 1, payload: Answer.responseHeaders),
             HTTP2Frame(.data, stream: 1, payload: Answer.addMessage),
             HTTP2Frame(.headers, flags: [.endHeaders, .endStream], stream: 1, payload: Answer.trailers())]
        }
        defer { peer.stop() }
        #expect(try add(peer).address == "10.0.1.9")
        #expect(peer.connections().count == 1)
    }

    /// A GOAWAY that excludes the call, or REFUSED_STREAM: the daemon is going; the call is
    /// repeated (a successor takes over within the handover window) until the deadline.
    @Test(arguments: [HTTP2Frame(.goAway, payload: HTTP2Frame.bigEndian32(0) + HTTP2Frame.bigEndian32(0)),
                      HTTP2Frame(.goAway, payload: HTTP2Frame.bigEndian32(1) + HTTP2Frame.bigEndian32(2)),
                      HTTP2Frame(.resetStream, stream: 1, payload: HTTP2Frame.bigEndian32(HTTP2Frame.ErrorCode.refusedStream.rawValue)),
                      HTTP2Frame(.resetStream, stream: 1, payload: HTTP2Frame.bigEndian32(HTTP2Frame.ErrorCode.cancel.rawValue))])
    func aDaemonGoingAwayIsRepeatedUntilTheDeadline(frame: HTTP2Frame) throws {
        let peer = try ScriptedPeer { [frame] }
        defer { peer.stop() }
        #expect { try add(peer, timeoutMilliseconds: 400) } throws: { error in
            guard case .unreachable? = error as? IPAMCallError else { return false }
            return true
        }
        #expect(peer.connections(atLeast: 2).count >= 2, "repeated within the window")
    }

    @Test func otherResetsAndMalformedAnswersFailAtOnce() throws {
        let cases: [([HTTP2Frame], String)] = [
            ([HTTP2Frame(.resetStream, stream: 1, payload: HTTP2Frame.bigEndian32(2))], "reset stream 1 (error 2)"),
            ([HTTP2Frame(.headers, flags: .endHeaders, stream: 1, payload: Answer.block([(":status", "503")]))], "HTTP status 503"),
            ([HTTP2Frame(.headers, flags: .endHeaders, stream: 1, payload: Answer.responseHeaders),
              HTTP2Frame(.data, flags: .endStream, stream: 1, payload: Answer.addMessage)], "ended without trailers"),
            ([HTTP2Frame(.headers, flags: .endHeaders, stream: 1, payload: Answer.responseHeaders),
              HTTP2Frame(.data, flags: .padded, stream: 1, payload: [200, 1, 2])], "bad padding"),
            ([HTTP2Frame(.headers, flags: [.endHeaders, .endStream], stream: 1, payload: Answer.trailers())], "no response message"),
        ]
        for (script, expected) in cases {
            let peer = try ScriptedPeer { script }
            defer { peer.stop() }
            do {
                _ = try add(peer)
                Issue.record("accepted: \(expected)")
            } catch {
                #expect(error.description.contains(expected), "\(error)")
                if case .protocolViolation = error {} else { Issue.record("not a protocol violation: \(error)") }
            }
            #expect(peer.connections().count == 1, "not repeated: \(expected)")
        }
    }

    @Test func aStatusInTheTrailersIsTheCallsError() throws {
        let peer = try ScriptedPeer {
            [HTTP2Frame(.headers, flags: .endHeaders, stream: 1, payload: Answer.responseHeaders),
             HTTP2Frame(.headers, flags: [.endHeaders, .endStream], stream: 1, payload: Answer.trailers(8, "no free address: 100%25 in use"))]
        }
        defer { peer.stop() }
        #expect(throws: IPAMCallError.status(code: .resourceExhausted, message: "no free address: 100% in use")) { try add(peer) }
    }
}
