@testable import EC2Sim
@testable import ENIController
import Foundation
import Kubernetes
import Testing
import TestSupport
import VPCNetCore

@Suite struct ScaleTests {
    /// 200 nodes join at once with EC2 throttling on (buckets sized so the test takes seconds, not
    /// the minutes EC2's own refill rates would): every node is provisioned, none fails for good,
    /// and the calls per node stay at the design's minimum: with single addresses an m5.large
    /// needs 2 pod ENIs, with prefixes one (7 /28s, so a /16: 1400 of its 4096 /28s).
    @Test(arguments: [PodSizing.PrefixDelegation.off, .on])
    func twoHundredNodesAtOnceUnderThrottling(prefixDelegation: PodSizing.PrefixDelegation) async throws {
        let throttle = SimThrottle(enabled: true, nonMutating: .init(capacity: 100, refillPerSecond: 150),
                                   mutating: .init(capacity: 100, refillPerSecond: 150))
        let harness = try await Harness.start(throttle: throttle, subnetCIDR: prefixDelegation == .on ? "10.0.0.0/16" : "10.0.0.0/18")
        let sizing = PodSizing(prefixDelegation: prefixDelegation)
        let podENIs = prefixDelegation == .on ? 1 : 2
        let nodes = 200
        var instances: [String: String] = [:]
        for i in 0..<nodes { instances["node-\(i)"] = try await harness.launch("node-\(i)") }
        let setupCalls = harness.calls.withLock { $0.count }

        let started = ContinuousClock.now
        var configuration = harness.configuration(workers: 8)
        configuration.prefixDelegation = prefixDelegation
        let running = Task { await harness.controller(configuration).run() }
        try await eventually("all nodes provisioned", seconds: 240) {
            try await harness.kube.list(Node.self).items.allSatisfy { $0.annotations[WellKnown.Annotations.nodeNetwork] != nil }
        }
        let elapsed = ContinuousClock.now - started
        running.cancel()
        await running.value

        for (name, instance) in instances.sorted(by: { $0.key < $1.key }) {
            #expect(try await harness.problems(node: name, instanceID: instance, sizing: sizing) == [])
        }
        #expect(harness.orphans.isEmpty && harness.simulator.invariantViolations() == [])
        let calls = harness.calls.withLock { Array($0.dropFirst(setupCalls)) }.map(\.action)
        let counts = Dictionary(grouping: calls, by: { $0 }).mapValues(\.count)
        let mutating = calls.filter { !$0.hasPrefix("Describe") }.count
        // Create (with its addresses), attach and modify per pod ENI: never a duplicate, never an Assign.
        #expect(mutating == nodes * 3 * podENIs && counts["AssignPrivateIpAddresses"] == nil, "\(counts)")
        // Plus DescribeInstances once, DescribeNetworkInterfaces before and after, and subnet/VPC lookups cached.
        #expect(counts["DescribeInstances"] == nodes && counts["DescribeNetworkInterfaces"] == 2 * nodes, "\(counts)")
        #expect(Double(calls.count) / Double(nodes) < Double(3 + 3 * podENIs) + 0.2, "\(counts)")
        let events = try await harness.kube.list(Event.self, namespace: "default").items
        #expect(!events.contains { $0.reason == "ProvisioningFailed" || $0.reason == "MissingPermission" }, "throttling slows nodes, it never fails them")
        print("scale (prefix-delegation \(prefixDelegation)): \(nodes) nodes in \(elapsed), \(String(format: "%.2f", Double(calls.count) / Double(nodes))) successful EC2 calls per node: \(counts.sorted { $0.key < $1.key })")
        await harness.stop()
    }
}
