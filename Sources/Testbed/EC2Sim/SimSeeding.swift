import AWSEC2
import Foundation

/// The network a test or the simulated cluster starts from: a VPC, its subnets and a security
/// group, made through the Query API as an operator's tooling would (the testbed-only actions).
public struct SimNetwork: Sendable {
    public struct Subnet: Sendable, Hashable {
        public var id: String
        public var cidr: String
        public var zone: String
    }

    public var vpcID: String
    public var subnets: [Subnet]
    public var groupID: String

    /// The subnet of `zone` (the first, when there are several).
    public func subnet(in zone: String) -> Subnet? { subnets.first { $0.zone == zone } }
}

/// An answer of the simulator that lacks the element a seeding step needs.
public struct SimSeedingError: Error, CustomStringConvertible {
    public var description: String
}

extension EC2SimServer {
    /// A client of this server, signing with the simulator's test keys unless told otherwise.
    public func client(http: AWSHTTPClient, accessKeyID: String = EC2Simulator.testAccessKeyID,
                       secretAccessKey: String = EC2Simulator.testSecretAccessKey, retry: RetryPolicy = RetryPolicy(),
                       rateBudget: RateBudget = RateBudget(), clockSkew: TimeInterval = 0) -> EC2Client {
        EC2Client(configuration: .init(region: simulator.configuration.region, endpoint: url, retry: retry),
                  credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey)),
                  httpClient: http, rateBudget: rateBudget, now: { Date().addingTimeInterval(clockSkew) })
    }
}

extension EC2Client {
    /// A VPC with one subnet per `(cidr, zone)` and one security group, `nodes`.
    public func createSimulatedNetwork(vpcCIDR: String = "10.0.0.0/16", subnets: [(cidr: String, zone: String)]) async throws -> SimNetwork {
        let vpc = try Self.element("vpcId", of: await send(action: "CreateVpc", [("CidrBlock", vpcCIDR)]))
        var made: [SimNetwork.Subnet] = []
        for (cidr, zone) in subnets {
            let id = try Self.element("subnetId", of: await send(action: "CreateSubnet", [("VpcId", vpc), ("CidrBlock", cidr), ("AvailabilityZone", zone)]))
            made.append(.init(id: id, cidr: cidr, zone: zone))
        }
        let group = try Self.element("groupId", of: await send(action: "CreateSecurityGroup", [("VpcId", vpc), ("GroupName", "nodes"),
                                                                                              ("GroupDescription", "nodes")]))
        return SimNetwork(vpcID: vpc, subnets: made, groupID: group)
    }

    /// The rules an EKS cluster's security group has and a cluster behind an internet-facing load
    /// balancer adds: all traffic among the group's members (nodes and their pods reach each
    /// other), node ports (TCP and UDP 30000–32767) from anywhere. Egress is the new group's
    /// default, all traffic out.
    public func admitClusterTraffic(groupID: String) async throws {
        var parameters = [("GroupId", groupID), ("IpPermissions.1.IpProtocol", "-1"), ("IpPermissions.1.Groups.1.GroupId", groupID)]
        for (index, proto) in ["tcp", "udp"].enumerated() {
            let base = "IpPermissions.\(index + 2)"
            parameters += [("\(base).IpProtocol", proto), ("\(base).FromPort", "30000"), ("\(base).ToPort", "32767"),
                           ("\(base).IpRanges.1.CidrIp", "0.0.0.0/0"), ("\(base).IpRanges.1.Description", "node ports")]
        }
        _ = try await send(action: "AuthorizeSecurityGroupIngress", parameters)
    }

    /// RunInstances of one instance of `type` in `subnetID`; its ID.
    public func runSimulatedInstance(type: String, subnetID: String, groupID: String) async throws -> String {
        try Self.element("instanceId", of: await send(action: "RunInstances", [
            ("ImageId", "ami-12345678"), ("InstanceType", type), ("MinCount", "1"), ("MaxCount", "1"), ("SubnetId", subnetID),
            ("SecurityGroupId.1", groupID),
        ]))
    }

    /// The text of the first `<element>` of an answer.
    public static func element(_ element: String, of body: [UInt8]) throws -> String {
        let text = String(decoding: body, as: UTF8.self)
        guard let start = text.range(of: "<\(element)>"), let end = text.range(of: "</\(element)>", range: start.upperBound..<text.endIndex) else {
            throw SimSeedingError(description: "no \(element) in the simulator's answer: \(text.prefix(300))")
        }
        return String(text[start.upperBound..<end.lowerBound])
    }
}
