import AWSEC2
@testable import EC2Sim
@testable import ENIController
import Foundation
import Kubernetes
import Testing
import TestSupport
import VPCNetCore

/// NetworkProfiles against the EC2 and Kubernetes simulators: the controller gives each selected
/// node the profile's ENIs in the profile's subnet with its groups, keeps the groups in step, and
/// reports a broken profile on its status without harming anything else.
@Suite struct ProfileTests {
    /// The CRD as far as these tests need it (the real one, with its schema, is tested with kubectl).
    static let definition: JSONValue = [
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": ["name": "networkprofiles.k8s-vpcnet.io"],
        "spec": ["group": "k8s-vpcnet.io", "scope": "Cluster", "names": ["plural": "networkprofiles", "kind": "NetworkProfile"],
                 "versions": [["name": "v1alpha1", "served": true, "storage": true, "subresources": ["status": [:]],
                               "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]]]],
    ]

    struct CRD: KubeObject {
        static let apiVersion = "apiextensions.k8s.io/v1", kind = "CustomResourceDefinition", resource = "customresourcedefinitions"
        static let namespaced = false
        var raw: JSONValue
    }

    func profile(_ name: String, groups: [String], subnet: String, selector: [String: String]? = nil) -> NetworkProfile {
        var spec: JSONValue = ["securityGroupIDs": .array(groups.map(JSONValue.string)), "subnets": [["id": .string(subnet)]],
                               "prefixDelegation": "off"]
        if let selector { spec["nodeSelector"] = ["matchLabels": .object(selector.mapValues(JSONValue.string))] }
        var object = NetworkProfile(name: name)
        object.raw["spec"] = spec
        return object
    }

    func element(_ name: String, _ body: [UInt8]) throws -> String { try EC2Client.element(name, of: body) }

    @Test func aProfileGetsItsENIsInItsSubnetWithItsGroupsAndABrokenOneHarmsNothing() async throws {
        let harness = try await Harness.start()
        let ec2 = harness.ec2
        let vpc = try #require(try await ec2.describeSubnets(ids: [harness.subnet]).first).vpcID
        let dbSubnet = try element("subnetId", try await ec2.send(action: "CreateSubnet", [("VpcId", vpc), ("CidrBlock", "10.0.64.0/24"),
                                                                                         ("AvailabilityZone", "us-east-1a")]))
        func group(_ name: String) async throws -> String {
            try element("groupId", try await ec2.send(action: "CreateSecurityGroup", [("VpcId", vpc), ("GroupName", name), ("GroupDescription", name)]))
        }
        let db = try await group("db"), clients = try await group("db-clients")
        _ = try await harness.kube.create(CRD(raw: Self.definition))
        _ = try await harness.kube.create(profile("db", groups: [db], subnet: dbSubnet, selector: ["role": "db"]))
        _ = try await harness.kube.create(profile("broken", groups: [db], subnet: "subnet-0000000000000000f", selector: ["role": "db"]))

        let controller = harness.controller()
        let running = Task { await controller.run() }
        let a = try await harness.launch("node-a", type: "m5.xlarge", labels: ["role": "db"])
        try await harness.launch("node-b", type: "m5.xlarge")
        try await eventually("both nodes provisioned") {
            let a = try await harness.record("node-a"), b = try await harness.record("node-b")
            return a != nil && b != nil
        }

        // m5.xlarge: 4 ENIs of 15 addresses. node-a's two profiles hold two device indexes, so its own pods get one ENI.
        let record = try #require(try await harness.record("node-a"))
        #expect(record.version == 3 && record.profiles == ["db"])
        #expect(record.podENIs(profile: nil).count == 1 && record.podENIs(profile: nil).first?.deviceIndex == 1)
        let dbENI = try #require(record.podENIs(profile: "db").first)
        #expect(dbENI.subnetID.rawValue == dbSubnet && dbENI.securityGroupIDs.map(\.rawValue) == [db] && dbENI.secondaryIPs.count == 14)
        let inEC2 = try #require(harness.simulator.networkInterfaces.first { $0.id == dbENI.id.rawValue })
        #expect(inEC2.subnetID == dbSubnet && inEC2.groupIDs == [db] && inEC2.attachment?.instanceID == a)
        #expect(inEC2.tags.contains { $0.key == WellKnown.ENITags.profile && $0.value == "db" })
        let b = try #require(try await harness.record("node-b"))
        #expect(b.version == 1 && b.podENIs.count == 3, "an unselected node keeps every ENI for its own pods")

        try await eventually("the profiles' statuses say what happened") {
            let good = try await harness.kube.get(NetworkProfile.self, name: "db").status
            let bad = try await harness.kube.get(NetworkProfile.self, name: "broken").status
            return good?["nodes"] == 1 && good?["capacity"] == 14 && good?.value(at: "conditions")?.arrayValue?.first?["status"] == "True"
                && bad?.value(at: "conditions")?.arrayValue?.first?["status"] == "False"
                && (bad?.value(at: "conditions")?.arrayValue?.first?["message"]?.stringValue ?? "").contains("subnet-0000000000000000f")
        }
        try await eventually("an Event on the broken profile") {
            try await harness.kube.list(Event.self, namespace: "default").items.contains {
                $0.involvedObjectName == "broken" && $0.reason == "NetworkProfileProblem"
            }
        }

        // New groups reach the existing ENI.
        _ = try await harness.kube.patch(NetworkProfile.self, name: "db", .merge, ["spec": ["securityGroupIDs": [.string(db), .string(clients)]]])
        try await eventually("the ENI has the profile's new groups") {
            harness.simulator.networkInterfaces.first { $0.id == dbENI.id.rawValue }?.groupIDs == [db, clients]
        }
        try await eventually("and the record says so") {
            try await harness.record("node-a")?.podENIs(profile: "db").first?.securityGroupIDs.map(\.rawValue) == [db, clients]
        }
        running.cancel()
        await running.value
        #expect(harness.orphans.isEmpty && harness.simulator.invariantViolations() == [])
        await harness.stop()
    }

    @Test func specsAreReadWithTheFieldAtFault() throws {
        var object = profile("db", groups: ["sg-0123456789abcdef0"], subnet: "subnet-0123456789abcdef0", selector: ["role": "db"])
        let spec = try ProfileSpec(object)
        #expect(spec.enisPerNode == 1 && spec.prefixDelegation == .off && spec.selects(labels: ["role": "db"]) && !spec.selects(labels: [:]))
        #expect(spec.subnetChoice(zone: "us-east-1b")?.id == "subnet-0123456789abcdef0", "an entry without a zone serves every zone")
        object.raw["spec"]?["securityGroupIDs"] = ["web"]
        #expect(throws: ConfigurationError.self) { try ProfileSpec(object) }
        do { _ = try ProfileSpec(object) } catch { #expect(error.description == "spec.securityGroupIDs[0]: \"web\" is not a security group ID") }
        object.raw["spec"]?["securityGroupIDs"] = ["sg-0123456789abcdef0"]
        object.raw["spec"]?["subnets"] = [["zone": "us-east-1a"]]
        do { _ = try ProfileSpec(object); Issue.record("accepted a subnet entry without id or tags") } catch {
            #expect(error.description == "spec.subnets[0]: needs an id or tags")
        }
        object.raw["spec"]?["subnets"] = [["zone": "us-east-1a", "tags": ["tier": "db"]], ["id": "subnet-0123456789abcdef0"]]
        let zoned = try ProfileSpec(object)
        #expect(zoned.subnetChoice(zone: "us-east-1a")?.tags == ["tier": "db"] && zoned.subnetChoice(zone: "us-east-1b")?.id == "subnet-0123456789abcdef0")
        object.raw["spec"]?["enisPerNode"] = 0
        #expect(throws: ConfigurationError.self) { try ProfileSpec(object) }
    }
}
