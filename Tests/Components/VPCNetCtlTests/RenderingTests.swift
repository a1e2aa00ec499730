import Foundation
import VPCNetContracts
import TestSupport
import Testing
import VPCNetCore
@testable import VPCNetCtl

@Suite struct RenderingTests {
    @Test func manifestsAreTheCommittedFileWithOnlyTheImageAndClusterChanged() throws {
        let committed = try String(contentsOf: Repository.root.appending(path: "deploy/vpcnet.yaml"), encoding: .utf8)
        #expect(try DeployRenderer.manifests(tag: "0.1.0", clusterName: nil) == committed, "the embedded copy is current")
        let rendered = try DeployRenderer.manifests(repository: "registry.example.com/net/vpcnet", tag: "v2.0-rc1", clusterName: "prod-east")
        let before = committed.split(separator: "\n", omittingEmptySubsequences: false)
        let after = rendered.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(before.count == after.count)
        let changed = zip(before, after).filter { $0 != $1 }
        #expect(changed.count == 4, "three image lines and the cluster name")
        for (old, new) in changed {
            if old.contains("image:") {
                #expect(new == old.replacing("ghcr.io/k8s-vpcnet/vpcnet:0.1.0", with: "registry.example.com/net/vpcnet:v2.0-rc1"))
            } else {
                #expect(new == "    cluster-name: \"prod-east\"")
            }
        }
    }

    @Test func badArgumentsAreRefusedWithTheirReason() {
        #expect(throws: UsageError.self) { try DeployRenderer.manifests(tag: "-bad", clusterName: nil) }
        #expect(throws: UsageError.self) { try DeployRenderer.manifests(tag: "1.0 ; rm", clusterName: nil) }
        #expect(throws: UsageError.self) { try DeployRenderer.manifests(repository: "Registry/Upper", tag: "1", clusterName: nil) }
        #expect(throws: UsageError.self) { try DeployRenderer.manifests(tag: "1", clusterName: "a\"b") }
        #expect(throws: UsageError.self) { try DeployRenderer.iamPolicy(clusterName: "") }
        #expect(throws: UsageError.self) { try MaxPodsReport.render(instanceType: "m99.huge", sizing: PodSizing()) }
        #expect(throws: UsageError.self) { try MaxPodsReport.render(instanceType: "t2.micro", sizing: PodSizing(prefixDelegation: .on)) }
    }

    @Test func iamPolicyIsScopedToTheCluster() throws {
        let committed = try String(contentsOf: Repository.root.appending(path: "deploy/iam-policy.json"), encoding: .utf8)
        #expect(try DeployRenderer.iamPolicy(clusterName: nil) == committed)
        let scoped = try DeployRenderer.iamPolicy(clusterName: "prod-east")
        #expect(!scoped.contains("CLUSTER_NAME"))
        #expect(scoped.components(separatedBy: "\"prod-east\"").count - 1 == committed.components(separatedBy: "\"CLUSTER_NAME\"").count - 1)
        #expect(try JSONSerialization.jsonObject(with: Data(scoped.utf8)) is [String: Any])
    }

    @Test func maxPodsMatchesTheDocumentedFigures() throws {
        #expect(try MaxPodsReport.render(instanceType: "m5.large", sizing: PodSizing(prefixDelegation: .off)) == "20", "18 addresses + 2 host-network pods")
        #expect(try MaxPodsReport.render(instanceType: "m5.large", sizing: PodSizing(prefixDelegation: .auto)) == "110", "auto: prefixes on a Nitro type")
        #expect(try MaxPodsReport.render(instanceType: "m4.large", sizing: PodSizing(prefixDelegation: .auto)) == "11", "auto: single addresses on a Xen type")
        #expect(try MaxPodsReport.render(instanceType: "m5.large", sizing: PodSizing(prefixDelegation: .on)) == "110")
        #expect(try MaxPodsReport.render(instanceType: "m5.large", sizing: PodSizing(maxPods: 250, prefixDelegation: .on)) == "250")
        #expect(try MaxPodsReport.render(instanceType: "m5.large", sizing: PodSizing(maxPods: 250, maxENIs: 2, prefixDelegation: .on)) == "146")
        #expect(try MaxPodsReport.render(instanceType: "t3.medium", sizing: PodSizing(prefixDelegation: .off)) == "12")
        #expect(try MaxPodsReport.render(instanceType: "c5.18xlarge", sizing: PodSizing(prefixDelegation: .off)) == "110")
        let explained = try MaxPodsReport.explain(instanceType: "m5.large", sizing: PodSizing(prefixDelegation: .on))
        #expect(explained.contains("given: 1 pod ENIs with 7 /28 prefixes of 16 addresses = 112 pod addresses"))
        #expect(explained.contains("pods = min(110, 112 + 2) = 110"))
        #expect(throws: UsageError.self) { try MaxPodsReport.render(instanceType: "m4.large", sizing: PodSizing(prefixDelegation: .on)) }
        #expect(throws: UsageError.self) { try MaxPodsReport.render(instanceType: "m5.large", sizing: PodSizing(maxPods: 1)) }
        #expect(throws: UsageError.self) { try MaxPodsReport.render(instanceType: "m5.large", sizing: PodSizing(maxENIs: 40)) }
    }

    @Test func statusTableShowsEveryAddressAndItsHolder() throws {
        let eni = try NetworkInterfaceID(parsing: "eni-0123456789abcdef0")
        let a = try IPv4Address(parsing: "10.0.16.11"), b = try IPv4Address(parsing: "10.0.16.12"), c = try IPv4Address(parsing: "10.0.16.13")
        let key = AttachmentKey(network: "vpcnet", containerID: "c0ffee0123456789abcdef", interface: "eth0")
        let status = NodeStatus(
            nodeName: "node-1", generatedAt: Date(timeIntervalSince1970: 0), ready: true,
            lastPass: PassReport(finishedAt: Date(timeIntervalSince1970: 60), durationSeconds: 0.012, result: "ready", detail: "3 pod addresses on 1 ENIs"),
            pool: .init(configured: true, total: 3, allocated: 1, free: 1, coolingDown: 1),
            profiles: [.init(name: "db", pool: .init(configured: true, total: 16, allocated: 0, free: 0, coolingDown: 0))],
            enis: [.init(id: eni, deviceIndex: 1, macAddress: try #require(MACAddress("02:00:00:00:00:01")), subnetID: try SubnetID(parsing: "subnet-0123456789abcdef0"),
                         subnetCIDR: try IPv4CIDR(parsing: "10.0.16.0/20"), primaryIP: try IPv4Address(parsing: "10.0.16.10"),
                         singleAddresses: [a, b, c],
                         addresses: [AddressState(address: a, eniID: eni, state: .allocated, attachment: key),
                                     AddressState(address: b, eniID: eni, state: .coolingDown, freeAt: 150_000),
                                     AddressState(address: c, eniID: eni, state: .free)]),
                   // Its interface is missing: no usable addresses yet.
                   .init(id: try NetworkInterfaceID(parsing: "eni-0123456789abcdef1"), deviceIndex: 2,
                         macAddress: try #require(MACAddress("02:00:00:00:00:02")), subnetID: try SubnetID(parsing: "subnet-0123456789abcdef0"),
                         subnetCIDR: try IPv4CIDR(parsing: "10.0.16.0/20"), primaryIP: try IPv4Address(parsing: "10.0.16.20"),
                         prefixes: [try IPv4CIDR(parsing: "10.0.16.32/28")], addresses: [], profile: "db")],
            allocations: [Allocation(key: key, pod: PodReference(namespace: "default", name: "web-1", uid: "u"), address: a, allocatedAt: 1000,
                                     hostPorts: [HostPort(port: 8080, protocol: "tcp"), HostPort(port: 53, protocol: "udp", hostIP: "10.0.16.10")])],
            record: nil)
        let table = StatusReport.table(status)
        #expect(table.contains("node node-1: ready; last pass 1970-01-01T00:01:00Z ready (3 pod addresses on 1 ENIs) in 0.012 s"))
        #expect(table.contains("addresses: 3 usable, 1 allocated, 1 free, 1 cooling down"))
        #expect(table.contains("profile db: 16 usable, 0 allocated, 0 free, 0 cooling down"), "each profile's addresses apart")
        let rows = table.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(table.contains("pod ENIs: 2, with 1 /28 prefixes and 3 single addresses"))
        #expect(rows.contains(["eni-0123456789abcdef0", "1", "-", "subnet-0123456789abcdef0", "10.0.16.0/20", "10.0.16.10", "-", "3", "1", "1", "1"]))
        #expect(rows.contains(["eni-0123456789abcdef1", "2", "db", "subnet-0123456789abcdef0", "10.0.16.0/20", "10.0.16.20", "10.0.16.32/28", "0", "0", "0", "0"]))
        #expect(rows.contains(["10.0.16.11", "eni-0123456789abcdef0", "allocated", "default/web-1", "c0ffee012345", "eth0", "8080/tcp,10.0.16.10:53/udp",
                               "1970-01-01T00:00:01Z"]), "the pod's hostPorts, as the daemon holds them")
        #expect(rows.contains(["10.0.16.12", "eni-0123456789abcdef0", "cooling_down", "free", "at", "1970-01-01T00:02:30Z"]))
        #expect(rows.contains(["10.0.16.13", "eni-0123456789abcdef0", "free"]))
        // What the endpoint sends is what vpcnetctl reads back.
        let decoded = try NodeStatus.decoder.decode(NodeStatus.self, from: try NodeStatus.encoder.encode(status))
        #expect(StatusReport.table(decoded) == table)
        // A daemon from before prefix delegation sends neither field: shown as unknown, not as none.
        var old = try #require(try JSONSerialization.jsonObject(with: try NodeStatus.encoder.encode(status)) as? [String: Any])
        old["enis"] = (old["enis"] as? [[String: Any]])?.map { $0.filter { $0.key != "prefixes" && $0.key != "singleAddresses" } }
        let fromOld = try NodeStatus.decoder.decode(NodeStatus.self, from: try JSONSerialization.data(withJSONObject: old))
        let oldRows = StatusReport.table(fromOld).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(oldRows.contains(["eni-0123456789abcdef0", "1", "-", "subnet-0123456789abcdef0", "10.0.16.0/20", "10.0.16.10", "?", "?", "1", "1", "1"]))
    }
}
