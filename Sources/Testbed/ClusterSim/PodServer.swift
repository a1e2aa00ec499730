import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// What the simulator's kubelet runs inside a pod: on each declared `containerPort`, TCP or UDP, a
/// server that answers with the pod's name and the address it saw the client come from (like the
/// upstream e2e image agnhost's `serve-hostname` and `porter`), so a test asks "who answered, and
/// whom did it see?". A TCP connection then echoes what the client sends until the client
/// half-closes. ``ask(host:port:udp:timeout:)`` and ``hold(host:port:duration:interval:)`` are the
/// clients (`vpcnet-sim ask`).
public enum PodServer {
    /// Serves until cancelled. A port that cannot be bound is an error at once.
    public static func serve(name: String, tcp: [Int], udp: [Int]) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        var listeners: [NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>] = []
        for port in tcp {
            // Remote half-closure: a client that is done sending gets its echo and the close.
            listeners.append(try await ServerBootstrap(group: group).serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .bind(host: "0.0.0.0", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                })
        }
        var sockets: [NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>] = []
        for port in udp {
            sockets.append(try await DatagramBootstrap(group: group).bind(host: "0.0.0.0", port: port).flatMapThrowing { channel in
                try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
            }.get())
        }
        try await withThrowingDiscardingTaskGroup { group in
            for listener in listeners {
                group.addTask {
                    try await listener.executeThenClose { connections in
                        try await withThrowingDiscardingTaskGroup { each in
                            for try await connection in connections {
                                each.addTask {
                                    let peer = connection.channel.remoteAddress?.ipAddress ?? "?"
                                    // The answer, then an echo of whatever the client sends until it half-closes:
                                    // a client can hold the connection open (`ask --hold`).
                                    try? await connection.executeThenClose { inbound, outbound in
                                        try await outbound.write(ByteBuffer(string: answer(name, peer)))
                                        for try await chunk in inbound { try await outbound.write(chunk) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for socket in sockets {
                group.addTask {
                    try await socket.executeThenClose { inbound, outbound in
                        for try await datagram in inbound {
                            let reply = ByteBuffer(string: answer(name, datagram.remoteAddress.ipAddress ?? "?"))
                            try await outbound.write(AddressedEnvelope(remoteAddress: datagram.remoteAddress, data: reply))
                        }
                    }
                }
            }
        }
    }

    static func answer(_ name: String, _ peer: String) -> String { "\(name) saw \(peer)\n" }

    /// Connects (TCP) or sends one datagram (UDP) and returns the answer, trimmed.
    public static func ask(host: String, port: Int, udp: Bool, timeout: Duration) async throws -> String {
        try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask { udp ? try await askUDP(host: host, port: port) : try await askTCP(host: host, port: port) }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw PodServerError("no answer from \(host):\(port)\(udp ? "/udp" : "") within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    private static func askTCP(host: String, port: Int) async throws -> String {
        try await connect(host: host, port: port).executeThenClose { inbound, outbound in
            outbound.finish()
            var text = ""
            for try await buffer in inbound { text += String(buffer: buffer) }
            return text.trimmingSuffix()
        }
    }

    /// Holds one TCP connection for `duration`, sending a numbered line every `interval` and
    /// waiting up to `timeout` for its echo; returns the answer and the number of echoes. Throws
    /// as soon as an echo is late or the connection breaks: what a connection that survives
    /// (a daemon restart, a datapath reconcile) must never do.
    public static func hold(host: String, port: Int, duration: Duration, interval: Duration,
                            timeout: Duration) async throws -> (answer: String, echoes: Int) {
        try await connect(host: host, port: port).executeThenClose { inbound, outbound in
            let progress = Progress()
            return try await withThrowingTaskGroup(of: (answer: String, echoes: Int)?.self) { group in
                group.addTask {
                    var lines = inbound.makeAsyncIterator()
                    var received = ""
                    func line() async throws -> String {
                        while true {
                            if let end = received.firstIndex(of: "\n") {
                                defer { received.removeSubrange(...end) }
                                return String(received[..<end])
                            }
                            guard let buffer = try await lines.next() else { throw PodServerError("\(host):\(port) closed the connection") }
                            received += String(buffer: buffer)
                        }
                    }
                    let answer = try await line()
                    let clock = ContinuousClock(), end = clock.now + duration
                    var echoes = 0
                    while clock.now < end {
                        progress.last.withLock { $0 = clock.now }
                        try await outbound.write(ByteBuffer(string: "ping \(echoes)\n"))
                        let echo = try await line()
                        guard echo == "ping \(echoes)" else { throw PodServerError("expected ping \(echoes) back, got \(echo)") }
                        echoes += 1
                        try await Task.sleep(for: interval)
                    }
                    outbound.finish()
                    return (answer, echoes)
                }
                // The watchdog: an exchange that takes longer than `timeout` fails the hold.
                group.addTask {
                    while true {
                        try await Task.sleep(for: .milliseconds(50))
                        let since = progress.last.withLock { ContinuousClock.now - $0 }
                        if since > timeout + interval { throw PodServerError("no echo from \(host):\(port) within \(timeout)") }
                    }
                }
                defer { group.cancelAll() }
                return try await group.next()!!
            }
        }
    }

    private static func connect(host: String, port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        do {
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel,
                                                                configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        } catch let error as NIOConnectionError {
            // NIO's error lists every address tried; one line says what happened.
            let reason = error.connectionErrors.first.map { ($0.error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\($0.error)" }
            throw PodServerError("no answer from \(host):\(port): \(reason ?? "\(error)")")
        }
    }

    private static func askUDP(host: String, port: Int) async throws -> String {
        let remote = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let socket = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "0.0.0.0", port: 0)
            .flatMapThrowing { channel in
                try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
            }.get()
        return try await socket.executeThenClose { inbound, outbound in
            try await outbound.write(AddressedEnvelope(remoteAddress: remote, data: ByteBuffer(string: "who?")))
            for try await datagram in inbound { return String(buffer: datagram.data).trimmingSuffix() }
            throw PodServerError("the socket to \(host):\(port)/udp closed without an answer")
        }
    }
}

/// When a held connection last made progress, shared with its watchdog.
private final class Progress: Sendable {
    let last = Mutex(ContinuousClock.now)
}

public struct PodServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

private extension String {
    func trimmingSuffix() -> String {
        var text = self
        while text.last?.isWhitespace == true { text.removeLast() }
        return text
    }
}
