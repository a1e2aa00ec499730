import AWSEC2
@testable import EC2Sim
import Foundation
import PropertyBased
import Testing
import VPCNetCore

/// Random sequences of ENI operations, straight into the simulator: whatever is accepted or
/// refused, no address is ever held twice, counts always match and no limit is exceeded.
@Suite struct EC2SimPropertyTests {
    /// Sends one action in-process (signatures off); returns the status and body.
    static func call(_ sim: EC2Simulator, _ action: String, _ parameters: [(String, String)]) async -> (Int, String) {
        let body = QueryForm.encode([("Action", action), ("Version", "2016-11-15")] + parameters)
        let response = await sim.handle(method: "POST", url: URL(string: "http://127.0.0.1/")!, headers: [], body: Array(body.utf8))
        return (response.status, response.body)
    }

    static func values(_ body: String, _ element: String) -> [String] {
        body.components(separatedBy: "<\(element)>").dropFirst().compactMap { $0.components(separatedBy: "</\(element)>").first }
    }

    @Test func randomOperationSequencesKeepEC2sInvariants() async {
        // Each step: (operation 0...8, which ENI, which instance, a count).
        let step = zip(Gen<Int>.value(in: 0...8), Gen<Int>.value(in: 0...20), Gen<Int>.value(in: 0...2), Gen<Int>.value(in: 0...12))
        await propertyCheck(count: 30, input: step.array(of: 40...120)) { steps in
            let sim = EC2Simulator(configuration: .init(verifySignatures: false), throttle: SimThrottle(enabled: false))
            let vpc = Self.values(await Self.call(sim, "CreateVpc", [("CidrBlock", "10.0.0.0/16")]).1, "vpcId")[0]
            // A small subnet so exhaustion and prefix fragmentation happen often.
            let subnet = Self.values(await Self.call(sim, "CreateSubnet", [("VpcId", vpc), ("CidrBlock", "10.0.0.0/26"),
                                                                             ("AvailabilityZone", "us-east-1a")]).1, "subnetId")[0]
            var instances: [String] = []
            for type in ["t3.medium", "m5.large", "t2.micro"] {
                let (_, body) = await Self.call(sim, "RunInstances", [("ImageId", "ami-1"), ("InstanceType", type), ("MinCount", "1"),
                                                                       ("MaxCount", "1"), ("SubnetId", subnet)])
                instances += Self.values(body, "instanceId")
            }
            var enis: [String] = []
            for (operation, eniPick, instancePick, count) in steps {
                let eni = enis.isEmpty ? "eni-00000000" : enis[eniPick % enis.count]
                let instance = instances[instancePick % instances.count]
                switch operation {
                case 0:
                    let (status, body) = await Self.call(sim, "CreateNetworkInterface", [("SubnetId", subnet),
                                                                                          ("SecondaryPrivateIpAddressCount", String(count))])
                    if status == 200 { enis += Self.values(body, "networkInterfaceId").prefix(1) }
                case 1:
                    _ = await Self.call(sim, "AttachNetworkInterface", [("NetworkInterfaceId", eni), ("InstanceId", instance),
                                                                        ("DeviceIndex", String(1 + count % 3))])
                case 2:
                    _ = await Self.call(sim, "AssignPrivateIpAddresses", [("NetworkInterfaceId", eni),
                                                                          ("SecondaryPrivateIpAddressCount", String(max(1, count)))])
                case 3:
                    let (_, body) = await Self.call(sim, "DescribeNetworkInterfaces", [("NetworkInterfaceId.1", eni)])
                    let secondaries = zip(Self.values(body, "privateIpAddress").dropFirst(2), Self.values(body, "primary").dropFirst())
                        .filter { $0.1 == "false" }.map(\.0)
                    if let address = secondaries.first {
                        _ = await Self.call(sim, "UnassignPrivateIpAddresses", [("NetworkInterfaceId", eni), ("PrivateIpAddress.1", address)])
                    }
                case 4:
                    let (_, body) = await Self.call(sim, "DescribeNetworkInterfaces", [("NetworkInterfaceId.1", eni)])
                    if let attachment = Self.values(body, "attachmentId").first {
                        _ = await Self.call(sim, "DetachNetworkInterface", [("AttachmentId", attachment)])
                    }
                case 5:
                    let (status, _) = await Self.call(sim, "DeleteNetworkInterface", [("NetworkInterfaceId", eni)])
                    if status == 200 { enis.removeAll { $0 == eni } }
                case 6:
                    let (status, body) = await Self.call(sim, "CreateNetworkInterface", [("SubnetId", subnet), ("Ipv4PrefixCount", "1")])
                    if status == 200 { enis += Self.values(body, "networkInterfaceId").prefix(1) }
                case 7:
                    // Hostile counts are refused without changing anything.
                    let hostile = ["-3", "51", String(Int.max), "x"][count % 4]
                    let (status, _) = await Self.call(sim, "AssignPrivateIpAddresses", [("NetworkInterfaceId", eni),
                                                                                        ("SecondaryPrivateIpAddressCount", hostile),
                                                                                        ("Ipv4PrefixCount", "4")])
                    #expect(status == 400)
                default:
                    if count == 12 { _ = await Self.call(sim, "TerminateInstances", [("InstanceId.1", instance)]) }
                }
                #expect(sim.invariantViolations() == [], "after operation \(operation)")
            }
            // The subnet's reported free count matches what the ENIs hold.
            let (_, body) = await Self.call(sim, "DescribeSubnets", [("SubnetId.1", subnet)])
            let held = sim.networkInterfaces.reduce(0) { $0 + $1.allAddresses.count }
            #expect(Self.values(body, "availableIpAddressCount") == [String(64 - 5 - held)])
        }
    }

    /// Thousands of instances and ENIs: Describe filters and paginates them (its speed is a
    /// benchmark's business, not a test's).
    @Test func describePaginatesAtScale() async {
        let sim = EC2Simulator(configuration: .init(verifySignatures: false), throttle: SimThrottle(enabled: false))
        let vpc = Self.values(await Self.call(sim, "CreateVpc", [("CidrBlock", "10.0.0.0/16")]).1, "vpcId")[0]
        let subnet = Self.values(await Self.call(sim, "CreateSubnet", [("VpcId", vpc), ("CidrBlock", "10.0.0.0/16"),
                                                                         ("AvailabilityZone", "us-east-1a")]).1, "subnetId")[0]
        for _ in 0..<5 {
            _ = await Self.call(sim, "RunInstances", [("ImageId", "ami-1"), ("InstanceType", "m5.large"), ("MinCount", "200"),
                                                      ("MaxCount", "200"), ("SubnetId", subnet)])
        }
        for _ in 0..<2000 { _ = await Self.call(sim, "CreateNetworkInterface", [("SubnetId", subnet), ("SecondaryPrivateIpAddressCount", "9")]) }
        #expect(sim.networkInterfaces.count == 3000)
        let (status, body) = await Self.call(sim, "DescribeNetworkInterfaces", [("Filter.1.Name", "status"), ("Filter.1.Value.1", "available"),
                                                                                ("MaxResults", "1000")])
        #expect(status == 200)
        #expect(Self.values(body, "networkInterfaceId").count == 1000)
        #expect(Self.values(body, "nextToken").count == 1)
    }
}
