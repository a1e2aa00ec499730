import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import IPAMClient
import IPAMGRPC
import IPAMProto
import Synchronization
import Testing
import TestSupport

/// A grpc-swift server of the IPAM service whose answers a test sets.
struct ScriptedIPAM: Vpcnet_Ipam_V1_IPAM.SimpleServiceProtocol {
    let failure: RPCError?
    let allocations: Int

    func add(request: Vpcnet_Ipam_V1_AddRequest, context: ServerContext) async throws -> Vpcnet_Ipam_V1_AddResponse {
        if let failure { throw failure }
        return .with {
            $0.address = "10.0.1.5"
            $0.prefixLength = 20
            $0.gateway = "10.0.0.11"
            $0.eniID = "eni-" + request.attachment.containerID
        }
    }
    func del(request: Vpcnet_Ipam_V1_DelRequest, context: ServerContext) async throws -> Vpcnet_Ipam_V1_DelResponse {
        if let failure { throw failure }
        return .with { $0.releasedAddress = "10.0.1.5" }
    }
    func check(request: Vpcnet_Ipam_V1_CheckRequest, context: ServerContext) async throws -> Vpcnet_Ipam_V1_CheckResponse {
        if let failure { throw failure }
        return .with { $0.address = request.address }
    }
    func gc(request: Vpcnet_Ipam_V1_GCRequest, context: ServerContext) async throws -> Vpcnet_Ipam_V1_GCResponse { .init() }
    /// A response larger than one DATA frame and the initial flow-control window, when asked.
    func status(request: Vpcnet_Ipam_V1_StatusRequest, context: ServerContext) async throws -> Vpcnet_Ipam_V1_StatusResponse {
        .with { response in
            response.total = UInt32(allocations)
            response.allocations = (0..<allocations).map { index in
                .with {
                    $0.attachment = .with { $0.network = "vpcnet"; $0.containerID = String(repeating: "c", count: 64) + "\(index)"; $0.interface = "eth0" }
                    $0.address = "10.0.\(index / 250).\(index % 250)"
                }
            }
        }
    }
}

/// The standard health service, always SERVING.
struct ServingHealth: Grpc_Health_V1_Health.SimpleServiceProtocol {
    func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
        .with { $0.status = .serving }
    }
    func watch(request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
               context: ServerContext) async throws {}
}

/// ``IPAMClient`` against grpc-swift's own server on a unix socket: the framing by hand agrees
/// with a real gRPC peer on success, on every status code, on messages and on large answers.
@Suite struct GRPCServerTests {
    func serving(_ service: ScriptedIPAM, _ body: (IPAMClient) async throws -> Void) async throws {
        let path = Scratch.path("ipam") + ".sock"
        let server = GRPCServer(transport: .http2NIOPosix(address: .unixDomainSocket(path: path), transportSecurity: .plaintext),
                                services: [service, ServingHealth()])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            _ = try await server.listeningAddress
            // The client blocks its thread; keep it off the concurrency pool's few threads.
            try await body(IPAMClient(socketPath: path, timeoutMilliseconds: 3000))
            server.beginGracefulShutdown()
            try await group.waitForAll()
        }
    }

    @Test func aCallReturnsTheServersMessage() async throws {
        try await serving(ScriptedIPAM(failure: nil, allocations: 0)) { client in
            let answer = try await blocking { try client.add(.with { $0.attachment.containerID = "abc" }) }
            #expect(answer.address == "10.0.1.5" && answer.prefixLength == 20 && answer.gateway == "10.0.0.11" && answer.eniID == "eni-abc")
            #expect(try await blocking { try client.health() } == .serving)
        }
    }

    @Test(arguments: [(RPCError.Code.resourceExhausted, GRPCStatusCode.resourceExhausted), (.unavailable, .unavailable),
                      (.notFound, .notFound), (.internalError, .internal), (.invalidArgument, .invalidArgument)])
    func aStatusArrivesWithItsCodeAndMessage(code: RPCError.Code, expected: GRPCStatusCode) async throws {
        // A message the transport must percent-encode (non-ASCII, '%').
        let message = "no free address: 18 of 18 in use (100% — cooling down)"
        try await serving(ScriptedIPAM(failure: RPCError(code: code, message: message), allocations: 0)) { client in
            // UNAVAILABLE is repeated for the handover window (1 s, within the 3 s deadline), then surfaces.
            await #expect(throws: IPAMCallError.status(code: expected, message: message)) {
                try await blocking { try client.del(.with { $0.attachment.containerID = "abc" }) }
            }
        }
    }

    @Test func aLargeAnswerCrossesFramesAndTheFlowControlWindow() async throws {
        try await serving(ScriptedIPAM(failure: nil, allocations: 2000)) { client in
            let status = try await blocking { try client.status() }
            #expect(status.allocations.count == 2000 && status.total == 2000)
            let bytes: [UInt8] = try status.serializedBytes()
            #expect(bytes.count > 65_535, "larger than the initial window")
        }
    }
}

/// Runs a blocking call on a thread of its own, so the swift-nio server keeps being served.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}
