import EC2Sim
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import VPCNetCore

/// What the metadata service tells an instance about itself.
public struct InstanceIdentity: Sendable {
    public var instanceID: String
    public var instanceType: String
    public var availabilityZone: String
    public var region: String
    public var enis: [SimENI]
}

/// The instance metadata service at 169.254.169.254 in the simulated VPC: IMDSv2 tokens and the
/// paths vpcnet and common tools read, answered for whichever instance asks (by the source
/// address of the connection, as the real service knows the caller by its ENI).
public enum MetadataService {
    public static func start(listeningSocket: CInt, identify: @escaping @Sendable (IPv4Address) async -> InstanceIdentity?) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(identify: identify))
                }
            }
            .withBoundSocket(listeningSocket).get()
    }

    /// The answer for a path, or nil (404).
    static func answer(path: String, identity: InstanceIdentity) -> String? {
        let base = "/latest/meta-data/"
        let primary = identity.enis.first { $0.attachment?.deviceIndex == 0 }
        if path == "/latest/dynamic/instance-identity/document" {
            return """
                {"instanceId":"\(identity.instanceID)","instanceType":"\(identity.instanceType)","availabilityZone":"\(identity.availabilityZone)",\
                "region":"\(identity.region)","privateIp":"\(primary?.primaryIP.description ?? "")","accountId":"123456789012"}
                """
        }
        guard path.hasPrefix(base) else { return nil }
        let key = String(path.dropFirst(base.count))
        switch key {
        case "": return "instance-id\ninstance-type\nlocal-ipv4\nmac\nnetwork/\nplacement/"
        case "instance-id": return identity.instanceID
        case "instance-type": return identity.instanceType
        case "local-ipv4": return primary?.primaryIP.description
        case "mac": return primary?.macAddress
        case "placement/availability-zone": return identity.availabilityZone
        case "placement/region": return identity.region
        case "network/interfaces/macs", "network/interfaces/macs/": return identity.enis.map { $0.macAddress + "/" }.joined(separator: "\n")
        default: break
        }
        let macs = "network/interfaces/macs/"
        guard key.hasPrefix(macs) else { return nil }
        let parts = key.dropFirst(macs.count).split(separator: "/", maxSplits: 1).map(String.init)
        guard let mac = parts.first, let eni = identity.enis.first(where: { $0.macAddress == mac }) else { return nil }
        switch parts.count > 1 ? parts[1] : "" {
        case "": return "device-number\ninterface-id\nlocal-ipv4s\nsubnet-id\nvpc-id"
        case "device-number": return eni.attachment.map { String($0.deviceIndex) }
        case "interface-id": return eni.id
        case "local-ipv4s": return ([eni.primaryIP] + eni.secondaryIPs).map(\.description).joined(separator: "\n")
        case "subnet-id": return eni.subnetID
        case "vpc-id": return eni.vpcID
        default: return nil
        }
    }

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let identify: @Sendable (IPv4Address) async -> InstanceIdentity?
        private var head: HTTPRequestHead?

        init(identify: @escaping @Sendable (IPv4Address) async -> InstanceIdentity?) { self.identify = identify }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): self.head = head
            case .body: break
            case .end:
                guard let head else { return }
                let source = context.remoteAddress?.ipAddress.flatMap { try? IPv4Address(parsing: $0) }
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                let eventLoop = context.eventLoop
                let identify = self.identify
                let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
                let method = head.method
                Task {
                    var status = HTTPResponseStatus.notFound, body = "Not Found"
                    if method == .PUT && path == "/latest/api/token" {
                        (status, body) = (.ok, "vpcnet-sim-token-\(UInt64.random(in: 0...UInt64.max))")
                    } else if method == .GET, let source, let identity = await identify(source), let text = MetadataService.answer(path: path, identity: identity) {
                        (status, body) = (.ok, text)
                    }
                    let response = (status, body)
                    eventLoop.execute {
                        let context = bound.value
                        let bytes = Array(response.1.utf8)
                        let headers = HTTPHeaders([("Content-Type", "text/plain"), ("Content-Length", String(bytes.count)), ("Connection", "close")])
                        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: response.0, headers: headers))), promise: nil)
                        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes)))), promise: nil)
                        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
                    }
                }
            }
        }
    }
}
