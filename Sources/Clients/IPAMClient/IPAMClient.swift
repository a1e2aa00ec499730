import IPAMProto
import SwiftProtobuf

/// A blocking client of the daemon's `vpcnet.ipam.v1.IPAM` and `grpc.health.v1.Health` services,
/// light enough for a process that makes one call and exits (the CNI plugin). Each call opens its
/// own connection and has its own deadline.
public struct IPAMClient: Sendable {
    public let socketPath: String
    public let timeoutMilliseconds: Int

    public init(socketPath: String, timeoutMilliseconds: Int) {
        self.socketPath = socketPath
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    public func add(_ request: Vpcnet_Ipam_V1_AddRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_AddResponse {
        try call("/vpcnet.ipam.v1.IPAM/Add", request)
    }
    public func del(_ request: Vpcnet_Ipam_V1_DelRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_DelResponse {
        try call("/vpcnet.ipam.v1.IPAM/Del", request)
    }
    public func check(_ request: Vpcnet_Ipam_V1_CheckRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_CheckResponse {
        try call("/vpcnet.ipam.v1.IPAM/Check", request)
    }
    public func gc(_ request: Vpcnet_Ipam_V1_GCRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_GCResponse {
        try call("/vpcnet.ipam.v1.IPAM/GC", request)
    }
    public func status() throws(IPAMCallError) -> Vpcnet_Ipam_V1_StatusResponse {
        try call("/vpcnet.ipam.v1.IPAM/Status", Vpcnet_Ipam_V1_StatusRequest())
    }
    /// The standard health check of the IPAM service.
    public func health() throws(IPAMCallError) -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        let response: Grpc_Health_V1_HealthCheckResponse = try call("/grpc.health.v1.Health/Check",
                                                                    Grpc_Health_V1_HealthCheckRequest.with { $0.service = "vpcnet.ipam.v1.IPAM" })
        return response.status
    }

    private func call<Request: Message, Response: Message>(_ path: String, _ request: Request) throws(IPAMCallError) -> Response {
        let bytes: [UInt8]
        do { bytes = try request.serializedBytes() } catch { throw .protocolViolation("cannot encode the request: \(error)") }
        let deadline = UnaryCall.now() + UInt64(max(1, timeoutMilliseconds)) * 1_000_000
        let answer = try UnaryCall(socketPath: socketPath, deadline: deadline).call(path: path, request: bytes)
        do { return try Response(serializedBytes: answer) } catch { throw .protocolViolation("cannot decode the response: \(error)") }
    }
}
