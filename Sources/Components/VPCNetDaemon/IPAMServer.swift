import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import IPAM
import VPCNetCore

/// The IPAM's gRPC server on a unix socket that only root can reach: the socket's directory is
/// created 0700 before the socket exists, and the socket itself is 0600.
public struct IPAMServer: Sendable {
    public let socketPath: String
    let server: GRPCServer<HTTP2ServerTransport.Posix>

    public init(socketPath: String, services: [any RegistrableRPCService]) throws {
        self.socketPath = socketPath
        try AtomicFile.requirePrivateDirectory(AtomicFile.directory(of: socketPath))
        server = GRPCServer(transport: .http2NIOPosix(address: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext),
                            services: services)
    }

    /// Serves until ``stop()``; the socket is restricted as soon as it exists.
    public func serve() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            group.addTask {
                if try await server.listeningAddress != nil { chmod(socketPath, 0o600) }
            }
            try await group.waitForAll()
        }
    }

    public func stop() { server.beginGracefulShutdown() }
}
