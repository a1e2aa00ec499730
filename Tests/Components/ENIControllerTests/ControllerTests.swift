import AWSEC2
@testable import EC2Sim
@testable import ENIController
import Foundation
import Kubernetes
import Synchronization
import Testing
import TestSupport
import VPCNetCore
import VPCNetSettings

@Suite struct ControllerTests {
    @Test func aNodeIsFullyProvisionedWithTheMinimumOfCalls() async throws {
        let harness = try await Harness.start()
        let controller = harness.controller()
        let running = Task { await controller.run() }
        let instance = try await harness.launch("node-a")
        try await eventually("node-a provisioned") { try await harness.record("node-a") != nil }
        running.cancel()
        await running.value

        #expect(try await harness.problems(node: "node-a", instanceID: instance) == [])
        let record = try #require(try await harness.record("node-a"))
        #expect(record.podENIs.count == 2 && record.podAddresses.count == 18, "m5.large: 2 extra ENIs × 9 secondary IPs")
        #expect(record.vpcCIDRs.map(\.description) == ["10.0.0.0/16"])
        #expect(harness.orphans.isEmpty && harness.simulator.invariantViolations() == [])

        // RunInstances and the VPC set-up aside, what one m5.large node cost.
        let calls = harness.calls.withLock { $0.map(\.action) }.filter { !["CreateVpc", "CreateSubnet", "CreateSecurityGroup", "RunInstances"].contains($0) }
        let counts = Dictionary(grouping: calls, by: { $0 }).mapValues(\.count)
        #expect(counts["CreateNetworkInterface"] == 2 && counts["AttachNetworkInterface"] == 2 && counts["ModifyNetworkInterfaceAttribute"] == 2)
        #expect(calls.count == 11, "3 per ENI; the instance and our ENIs read, our ENIs read again; subnet and VPC once: \(counts)")

        let events = try await harness.kube.list(Event.self, namespace: "default").items
        #expect(Set(events.compactMap(\.reason)).isSuperset(of: ["ENIsCreated", "NetworkProvisioned"]))
        await harness.stop()
    }

    @Test func nodesAreSizedToTheirMaxPodsNotToTheirType() async throws {
        let harness = try await Harness.start()
        var configuration = harness.configuration()
        configuration.maxENIs = 4
        let controller = harness.controller(configuration)
        let running = Task { await controller.run() }
        // c5.18xlarge holds 686 pod addresses on 14 ENIs; 110 pods need 108, on 3.
        let large = try await harness.launch("large", type: "c5.18xlarge")
        let labelled = try await harness.launch("labelled", type: "c5.18xlarge", labels: [WellKnown.Labels.maxPods: "30"])
        let capped = try await harness.launch("capped", type: "c5.18xlarge", labels: [WellKnown.Labels.maxPods: "250"])
        _ = try await harness.launch("invalid", type: "c5.18xlarge", labels: [WellKnown.Labels.maxPods: "lots"])
        for name in ["large", "labelled", "capped"] {
            try await eventually("\(name) provisioned") { try await harness.record(name) != nil }
        }
        try await eventually("a warning on the invalid label") {
            try await harness.kube.list(Event.self, namespace: "default").items.contains {
                $0.involvedObjectName == "invalid" && $0.reason == "InvalidMaxPods" && ($0.message ?? "").contains("lots")
            }
        }
        let sizing = configuration.podSizing
        #expect(try await harness.problems(node: "large", instanceID: large, type: "c5.18xlarge", sizing: sizing) == [])
        #expect(try await harness.problems(node: "labelled", instanceID: labelled, type: "c5.18xlarge",
                                           sizing: try sizing.overridden(byLabel: "30")) == [])
        #expect(try await harness.problems(node: "capped", instanceID: capped, type: "c5.18xlarge",
                                           sizing: try sizing.overridden(byLabel: "250")) == [])
        #expect(try await harness.record("large")?.podAddresses.count == 108)
        #expect(try await harness.record("labelled")?.podAddresses.count == 28)
        #expect(try await harness.record("capped")?.podAddresses.count == 147, "max-enis 4: three pod ENIs of 49")
        #expect(try await harness.kube.get(Node.self, name: "capped").labels[WellKnown.Labels.podCapacity] == "149")
        #expect(try await harness.kube.get(Node.self, name: "large").labels[WellKnown.Labels.podCapacity] == "110")
        #expect(try await harness.record("invalid") == nil)
        #expect(!harness.simulator.networkInterfaces.contains { $0.tags.contains { $0.value == "invalid" } }, "nothing created for it")
        running.cancel()
        await running.value
        await harness.stop()
    }

    @Test func withPrefixesAnM5LargeGetsOneENIWithSevenPrefixesAndAXenTypeSingleAddresses() async throws {
        let harness = try await Harness.start()
        var configuration = harness.configuration()
        configuration.prefixDelegation = .auto
        let controller = harness.controller(configuration)
        let running = Task { await controller.run() }
        let nitro = try await harness.launch("nitro")
        let xen = try await harness.launch("xen", type: "m4.large")
        for name in ["nitro", "xen"] { try await eventually("\(name) provisioned") { try await harness.record(name) != nil } }
        running.cancel()
        await running.value
        let sizing = configuration.podSizing
        #expect(try await harness.problems(node: "nitro", instanceID: nitro, sizing: sizing) == [])
        #expect(try await harness.problems(node: "xen", instanceID: xen, type: "m4.large", sizing: sizing) == [])
        let record = try #require(try await harness.record("nitro"))
        #expect(record.podENIs.count == 1 && record.podENIs[0].ipv4Prefixes.count == 7 && record.podAddresses.count == 112)
        let xenRecord = try #require(try await harness.record("xen"))
        #expect(record.version == 2 && xenRecord.version == 1, "a record without prefixes stays version 1")
        #expect(try await harness.kube.get(Node.self, name: "nitro").labels[WellKnown.Labels.podCapacity] == "110")
        // One ENI: created with its prefixes in the same call, attached, DeleteOnTermination set.
        let creates = harness.calls.withLock { $0.filter { $0.action == "CreateNetworkInterface" } }
        #expect(creates.count == 2, "one ENI each: the nitro node's 7 prefixes, the xen node's 9 addresses (an m4.large takes 2 ENIs)")
        #expect(!harness.calls.withLock { $0.contains { $0.action == "AssignPrivateIpAddresses" } }, "prefixes come with the create")
        #expect(harness.orphans.isEmpty && harness.simulator.invariantViolations() == [])
        await harness.stop()
    }

    @Test func aSubnetWithoutAFreeSlash28GivesSingleAddressesAndSaysSo() async throws {
        let harness = try await Harness.start(subnetCIDR: "10.0.0.0/22")
        // Fragment the subnet as a boto3 script can: one address taken in every /28.
        let subnet = harness.subnet
        try await harness.fragment("10.0.0.0/22")
        var configuration = harness.configuration()
        configuration.prefixDelegation = .on
        let controller = harness.controller(configuration)
        let running = Task { await controller.run() }
        let instance = try await harness.launch("node-a")
        try await eventually("node-a provisioned") { try await harness.record("node-a") != nil }
        try await eventually("a fallback warning") {
            try await harness.kube.list(Event.self, namespace: "default").items.contains {
                $0.involvedObjectName == "node-a" && $0.reason == "PrefixDelegationFallback"
                    && ($0.message ?? "").contains(subnet) && ($0.message ?? "").contains("0 free /28 prefixes")
            }
        }
        running.cancel()
        await running.value
        let record = try #require(try await harness.record("node-a"))
        #expect(record.podENIs.count == 2 && record.podENIs.allSatisfy { $0.ipv4Prefixes.isEmpty && $0.secondaryIPs.count == 9 },
                "the node is not left without capacity: 2 ENIs of 9 single addresses, all an m5.large holds")
        #expect(try await harness.kube.get(Node.self, name: "node-a").labels[WellKnown.Labels.podCapacity] == "20")
        let created = harness.calls.withLock { $0.filter { $0.action == "CreateNetworkInterface" } }.count
        #expect(harness.simulator.calls.all["CreateNetworkInterface"] == created + 1,
                "one refused call: the subnet is asked for prefixes once, then for single addresses until its backoff ends")
        #expect(harness.orphans.isEmpty && harness.simulator.invariantViolations() == [])
        #expect(try await harness.problems(node: "node-a", instanceID: instance, sizing: PodSizing(prefixDelegation: .off)) == [],
                "what it got is what a node without prefixes gets")
        await harness.stop()
    }

    /// A /27 holds 27 addresses: the instance takes 1 and a blocker 10, so the node's first ENI
    /// (1 + 9) fits and its second does not.
    private func nearlyFullSubnet() async throws -> (Harness, blocker: String) {
        let harness = try await Harness.start(subnetCIDR: "10.0.0.0/27")
        let blocker = try await harness.ec2.createNetworkInterface(.init(subnetID: harness.subnet, securityGroupIDs: [harness.group],
                                                                          secondaryPrivateIPAddressCount: 9))
        return (harness, blocker.id)
    }

    private func event(_ harness: Harness, _ node: String, _ reason: String) async throws -> String? {
        try await harness.kube.list(Event.self, namespace: "default").items
            .first { $0.involvedObjectName == node && $0.reason == reason }.map { $0.message ?? "" }
    }

    @Test func aSubnetThatCannotHoldTheNodeKeepsItGatedAndSaysHowFarItGot() async throws {
        let (harness, _) = try await nearlyFullSubnet()
        let running = Task { await harness.controller().run() }
        _ = try await harness.launch("node-a")
        try await eventually("an InsufficientAddresses warning") { try await event(harness, "node-a", "InsufficientAddresses") != nil }
        let message = try #require(try await event(harness, "node-a", "InsufficientAddresses"))
        #expect(message.contains(harness.subnet) && message.contains("has 9 of the 18 pod addresses it needs"), "\(message)")
        running.cancel()
        await running.value
        let node = try await harness.kube.get(Node.self, name: "node-a")
        #expect(node.annotations[WellKnown.Annotations.nodeNetwork] == nil && node.hasTaint(WellKnown.Taints.noInterfaceConfigured),
                "no record, still gated: it does not take pods with half its addresses unless min-pods says so")
        #expect(harness.orphans.isEmpty && harness.simulator.invariantViolations() == [])
        await harness.stop()
    }

    /// A /27 has no usable /28 (one holds EC2's first 4 addresses, the other the broadcast): with
    /// prefixes the first ENI falls back to 9 single addresses, then the subnet runs out.
    @Test func aNodeGatedForWantOfAddressesStillSaysWhichENIsGotSingleAddresses() async throws {
        let (harness, _) = try await nearlyFullSubnet()
        var configuration = harness.configuration()
        configuration.prefixDelegation = .on
        let running = Task { await harness.controller(configuration).run() }
        _ = try await harness.launch("node-a")
        try await eventually("an InsufficientAddresses warning") { try await event(harness, "node-a", "InsufficientAddresses") != nil }
        let fallback = try #require(try await event(harness, "node-a", "PrefixDelegationFallback"),
                                    "the fallback of the pass that ran out is reported too")
        #expect(fallback.contains(harness.subnet) && fallback.contains("got 9 single addresses"), "\(fallback)")
        running.cancel()
        await running.value
        let fallbacks = try await harness.kube.list(Event.self, namespace: "default").items
            .filter { $0.involvedObjectName == "node-a" && $0.reason == "PrefixDelegationFallback" }
        #expect(fallbacks.count == 1 && fallbacks.first?.raw["count"] == 1, "retries of the gated node add no fallback")
        #expect(harness.orphans.isEmpty && harness.simulator.invariantViolations() == [])
        await harness.stop()
    }

    @Test func minPodsLetsANodeStartShortAndItGetsTheRestWhenTheSubnetHasThem() async throws {
        let (harness, blocker) = try await nearlyFullSubnet()
        var configuration = harness.configuration()
        configuration.minPods = 10
        configuration.subnetBackoff = .milliseconds(500)
        let running = Task { await harness.controller(configuration).run() }
        let instance = try await harness.launch("node-a")
        try await eventually("a short record") { try await harness.record("node-a") != nil }
        let short = try #require(try await harness.record("node-a"))
        #expect(short.podAddresses.count == 9)
        #expect(try await harness.kube.get(Node.self, name: "node-a").labels[WellKnown.Labels.podCapacity] == "11",
                "the capacity is what it has: 9 addresses and the 2 host-network pods")
        let message = try #require(try await event(harness, "node-a", "PartialAllocation"))
        #expect(message.contains("starts with 9 of the 18 pod addresses"), "\(message)")
        try await harness.ec2.deleteNetworkInterface(id: blocker)
        try await eventually("the rest, after the subnet's backoff") { try await harness.record("node-a")?.podAddresses.count == 18 }
        running.cancel()
        await running.value
        #expect(try await harness.kube.get(Node.self, name: "node-a").labels[WellKnown.Labels.podCapacity] == "20")
        #expect(try await harness.problems(node: "node-a", instanceID: instance) == [])
        #expect(harness.orphans.isEmpty && harness.simulator.invariantViolations() == [])
        await harness.stop()
    }

    @Test func typesMissingFromTheTableAreAskedOfEC2Once() async throws {
        let harness = try await Harness.start()
        let provisioner = NodeProvisioner(ec2: harness.ec2, settings: ProvisionerSettings(clusterName: Harness.cluster), knownLimits: { _ in nil })
        let asked = try await provisioner.limits(for: "c5.xlarge")
        let table = try #require(InstanceTypeLimits.forType("c5.xlarge"))
        #expect(asked.maxENIsOnDefaultCard == table.maxENIsOnDefaultCard && asked.ipv4AddressesPerENI == table.ipv4AddressesPerENI)
        _ = try await provisioner.limits(for: "c5.xlarge")
        #expect(harness.calls.withLock { $0.filter { $0.action == "DescribeInstanceTypes" }.count } == 1, "cached after the first answer")
        do {
            _ = try await provisioner.limits(for: "x9.imaginary")
            Issue.record("an unknown type was accepted")
        } catch {
            #expect("\(error)".contains("x9.imaginary"))
        }
        await harness.stop()
    }

    @Test func badNodesDoNotStopOthers() async throws {
        let harness = try await Harness.start()
        let controller = harness.controller()
        let running = Task { await controller.run() }
        // A provider ID that names no instance, and one that is not AWS at all.
        var ghost = Node(name: "ghost")
        ghost.raw["spec"] = ["providerID": "aws:///us-east-1a/i-0123456789abcdef0"]
        _ = try await harness.kube.create(ghost)
        var other = Node(name: "on-prem")
        other.raw["spec"] = ["providerID": "kind://docker/kind/kind-worker"]
        _ = try await harness.kube.create(other)
        let instance = try await harness.launch("good", type: "t3.medium")
        try await eventually("the good node provisioned") { try await harness.record("good") != nil }
        #expect(try await harness.problems(node: "good", instanceID: instance, type: "t3.medium") == [])
        try await eventually("a warning on the ghost") {
            try await harness.kube.list(Event.self, namespace: "default").items.contains { $0.involvedObjectName == "ghost" && $0.reason == "ProvisioningFailed" }
        }
        let onPrem = try await harness.kube.get(Node.self, name: "on-prem")
        #expect(onPrem.taints.isEmpty && onPrem.annotations.isEmpty, "nodes outside AWS are left alone")
        running.cancel()
        await running.value
        await harness.stop()
    }

    @Test func aMissingPermissionIsNamedInAnEvent() async throws {
        let harness = try await Harness.start()
        harness.simulator.faults.inject(.error(code: "UnauthorizedOperation", status: 403,
                                               message: "You are not authorized to perform this operation."),
                                        action: "CreateNetworkInterface", count: 1000)
        let running = Task { await harness.controller().run() }
        try await harness.launch("node-a")
        try await eventually("a MissingPermission event") {
            try await harness.kube.list(Event.self, namespace: "default").items.contains {
                $0.reason == "MissingPermission" && ($0.message ?? "").contains("ec2:CreateNetworkInterface")
            }
        }
        harness.simulator.faults.clear()
        try await eventually("provisioned once the permission is granted") { try await harness.record("node-a") != nil }
        running.cancel()
        await running.value
        await harness.stop()
    }

    /// Crash the controller right after each kind of EC2 call commits; a fresh controller (empty
    /// caches, as after a restart) must converge with no orphaned ENIs, no double attachments and
    /// no address or prefix held twice, with single addresses and with prefixes.
    @Test(arguments: ["CreateNetworkInterface", "AttachNetworkInterface", "ModifyNetworkInterfaceAttribute"],
          [PodSizing.PrefixDelegation.off, .on])
    func killedAfterAnyCallItConverges(action: String, prefixes: PodSizing.PrefixDelegation) async throws {
        let harness = try await Harness.start()
        var configuration = harness.configuration()
        configuration.prefixDelegation = prefixes
        let first = Task { await harness.controller(configuration).run() }
        let crashed = Atomic<Bool>(false)
        harness.simulator.addActionObserver { name, _ in
            if name == action, !crashed.exchange(true, ordering: .relaxed) { first.cancel() }
        }
        let instance = try await harness.launch("node-a")
        await first.value
        let didCrash = crashed.load(ordering: .relaxed)
        #expect(didCrash)
        #expect(try await harness.record("node-a") == nil, "the crash came before the record")

        let second = Task { await harness.controller(configuration).run() }
        try await eventually("converged after the restart") { try await harness.record("node-a") != nil }
        second.cancel()
        await second.value
        #expect(try await harness.problems(node: "node-a", instanceID: instance, sizing: PodSizing(prefixDelegation: prefixes)) == [])
        #expect(harness.orphans.isEmpty)
        #expect(harness.simulator.invariantViolations() == [])
        await harness.stop()
    }

    @Test func deletedNodesAreCleanedUpAndLeaksSwept() async throws {
        let harness = try await Harness.start()
        let controller = harness.controller()
        let running = Task { await controller.run() }
        let instance = try await harness.launch("node-a")
        try await eventually("provisioned") { try await harness.record("node-a") != nil }
        // Deleted mid-life while its instance runs on: its ENIs are detached and deleted.
        try await harness.kube.delete(Node.self, name: "node-a")
        try await eventually("node-a's ENIs gone") {
            !harness.simulator.networkInterfaces.contains { $0.tags.contains { $0.key == WellKnown.ENITags.instanceID && $0.value == instance } }
        }
        // Deleted while being provisioned: the first ENI's creation triggers the deletion.
        let deleting = Atomic<Bool>(false)
        let kube = harness.kube
        harness.simulator.addActionObserver { name, _ in
            if name == "CreateNetworkInterface", !deleting.exchange(true, ordering: .relaxed) {
                Task { try? await kube.delete(Node.self, name: "node-b") }
            }
        }
        let second = try await harness.launch("node-b")
        try await eventually("node-b deleted mid-provisioning") { deleting.load(ordering: .relaxed) }
        try await eventually("node-b's ENIs gone") {
            !harness.simulator.networkInterfaces.contains { $0.tags.contains { $0.key == WellKnown.ENITags.instanceID && $0.value == second } }
        }
        // Nothing of node-b's may come back from a provisioning pass that was still running: one
        // more pass of node-b (passes of a node never overlap, so it follows any still running) finds nothing to do.
        let passes = controller.finishedReconciles(of: "node-b")
        await controller.requeue("node-b")
        try await eventually("node-b looked at once more") { controller.finishedReconciles(of: "node-b") > passes }
        #expect(!harness.simulator.networkInterfaces.contains { $0.tags.contains { $0.key == WellKnown.ENITags.instanceID && $0.value == second } })
        running.cancel()
        await running.value
        #expect(harness.orphans.isEmpty && harness.simulator.invariantViolations() == [])

        // Leaks: one of ours from long ago, one just made (maybe mid-attach), one not ours.
        func leak(cluster: String, createdAt: Date) async throws -> String {
            try await harness.ec2.createNetworkInterface(.init(
                subnetID: harness.subnet, securityGroupIDs: [harness.group],
                tags: [Tag(key: WellKnown.ENITags.cluster, value: cluster),
                       Tag(key: WellKnown.ENITags.createdAt, value: ISO8601DateFormatter().string(from: createdAt))])).id
        }
        let old = try await leak(cluster: Harness.cluster, createdAt: Date().addingTimeInterval(-7200))
        let young = try await leak(cluster: Harness.cluster, createdAt: Date())
        let foreign = try await leak(cluster: "another-cluster", createdAt: Date().addingTimeInterval(-7200))
        let swept = try await harness.controller().provisioner.sweep(grace: .seconds(900))
        #expect(swept == [old])
        let left = Set(harness.simulator.networkInterfaces.map(\.id))
        #expect(left.contains(young) && left.contains(foreign) && !left.contains(old))
        await harness.stop()
    }

    @Test func aNodeDeletedWhileNoControllerLedIsCleanedUpByTheNextOne() async throws {
        let harness = try await Harness.start()
        var first = Task { await harness.controller().run() }
        let instance = try await harness.launch("node-a")
        try await eventually("provisioned") { try await harness.record("node-a") != nil }
        first.cancel()
        await first.value
        // No controller runs while the Node goes; its instance runs on.
        try await harness.kube.delete(Node.self, name: "node-a")
        func ours() -> Int { harness.simulator.networkInterfaces.count { $0.tags.contains { $0.key == WellKnown.ENITags.instanceID && $0.value == instance } } }
        #expect(ours() == 2)
        var configuration = harness.configuration()
        configuration.sweepInterval = .milliseconds(200)
        first = Task { await harness.controller(configuration).run() }
        try await eventually("node-a's ENIs detached and deleted") { ours() == 0 }
        first.cancel()
        await first.value
        #expect(harness.orphans.isEmpty && harness.simulator.invariantViolations() == [])
        await harness.stop()
    }
}

@Suite struct SubnetSelectionTests {
    @Test func taggedSubnetsMostFreeFirstAndExhaustedOnesPassedOver() async throws {
        let harness = try await Harness.start(subnetCIDR: "10.0.0.0/20")
        func subnet(_ cidr: String) async throws -> String {
            let vpc = try #require(try await harness.ec2.describeSubnets(ids: [harness.subnet]).first?.vpcID)
            let body = String(decoding: try await harness.ec2.send(action: "CreateSubnet", [("VpcId", vpc), ("CidrBlock", cidr),
                                                                                   ("AvailabilityZone", "us-east-1a")]), as: UTF8.self)
            let start = try #require(body.range(of: "<subnetId>"))
            let id = String(body[start.upperBound...].prefix { $0 != "<" })
            try await harness.ec2.createTags(resourceIDs: [id], tags: [Tag(key: "vpcnet/pods", value: "yes")])
            return id
        }
        let large = try await subnet("10.0.64.0/20"), small = try await subnet("10.0.128.0/24")
        var configuration = harness.configuration()
        configuration.subnetTags = ["vpcnet/pods": "yes"]
        // The first create fails as if the large subnet were full: it is passed over and the small one used.
        harness.simulator.faults.inject(.error(code: "InsufficientFreeAddressesInSubnet", status: 400,
                                               message: "There are not enough free addresses in subnet to satisfy the requested number of instances."),
                                        action: "CreateNetworkInterface", count: 1)
        let running = Task { await harness.controller(configuration).run() }
        let instance = try await harness.launch("node-a")
        try await eventually("provisioned") { try await harness.record("node-a") != nil }
        running.cancel()
        await running.value
        let record = try #require(try await harness.record("node-a"))
        let used = Set(record.podENIs.map(\.subnetID.rawValue))
        #expect(used.isSubset(of: [large, small]) && used.contains(small), "tagged subnets only; the exhausted one passed over: \(used)")
        #expect(!used.contains(harness.subnet), "not the instance's own subnet")
        #expect(try await harness.problems(node: "node-a", instanceID: instance) == [])
        await harness.stop()
    }
}
