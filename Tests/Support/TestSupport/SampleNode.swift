import VPCNetCore

/// A node used across tests: an m5.large-like record with the primary ENI and two pod ENIs in
/// 10.0.0.0/20 (VPC 10.0.0.0/16); `KernelFakes` adds a fake kernel holding their interfaces.
public enum SampleNode {
    public static func record() throws -> NodeNetworkRecord {
        func eni(_ n: Int, _ index: Int, secondary: [String]) throws -> NodeNetworkRecord.ENI {
            let subnet = try IPv4CIDR(parsing: "10.0.0.0/20")
            return NodeNetworkRecord.ENI(
                id: try NetworkInterfaceID(parsing: "eni-0000000000000000\(n)"), macAddress: MACAddress("02:00:00:00:00:0\(n)")!, deviceIndex: index,
                subnetID: try SubnetID(parsing: "subnet-00000000000000001"), subnetCIDR: subnet, gateway: subnet.awsGateway,
                securityGroupIDs: [try SecurityGroupID(parsing: "sg-00000000000000001")], primaryIP: try IPv4Address(parsing: "10.0.0.1\(n)"),
                secondaryIPs: try secondary.map { try IPv4Address(parsing: $0) })
        }
        return NodeNetworkRecord(instanceID: try InstanceID(parsing: "i-0123456789abcdef0"), instanceType: "m5.large", availabilityZone: "us-east-1a",
                                 vpcID: try VPCID(parsing: "vpc-00000000000000001"), vpcCIDRs: [try IPv4CIDR(parsing: "10.0.0.0/16")],
                                 enis: [try eni(0, 0, secondary: []), try eni(1, 1, secondary: ["10.0.1.1", "10.0.1.2"]),
                                        try eni(2, 2, secondary: ["10.0.2.1"])])
    }

    /// The same node with a /28 prefix on its second pod ENI as well (record version 2).
    public static func recordWithPrefix() throws -> NodeNetworkRecord {
        var record = try record()
        let i = record.enis.firstIndex { $0.deviceIndex == 2 }!
        record.enis[i].ipv4Prefixes = [try IPv4CIDR(parsing: "10.0.3.16/28")]
        try record.validate()
        return record
    }

    public static let primaryMAC = MACAddress("02:00:00:00:00:00")!, eni1MAC = MACAddress("02:00:00:00:00:01")!, eni2MAC = MACAddress("02:00:00:00:00:02")!
}
