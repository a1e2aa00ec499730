import Foundation
@testable import IPAM
import Kubernetes
@testable import KubeSim
import Testing
import TestSupport
import VPCNetContracts
@testable import VPCNetDaemon
import VPCNetCore

@Suite struct TaintAndCollectionTests {
    @Test func theTaintGoesOnAtOnceAndComesOffOnlyAfterTheSettleTime() {
        let policy = FreeAddressTaintPolicy(settle: .seconds(5))
        let now = ContinuousClock.now
        #expect(policy.shouldTaint(tainted: false, freeSince: nil, now: now), "nothing free: taint at once")
        #expect(!policy.shouldTaint(tainted: false, freeSince: now, now: now), "free and untainted: leave it")
        #expect(policy.shouldTaint(tainted: true, freeSince: now - .seconds(4), now: now), "free only briefly: keep the taint")
        #expect(!policy.shouldTaint(tainted: true, freeSince: now - .seconds(5), now: now), "free for the settle time: remove")
    }

    static func pod(_ name: String, uid: String, node: String = "n1", owned: Bool = false) -> Pod {
        var pod = Pod(name: name, namespace: "default")
        pod.nodeName = node
        pod.raw["metadata"]?["uid"] = .string(uid)
        if owned {
            pod.raw["metadata"]?["ownerReferences"] = [["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-1",
                                                        "controller": true]]
        }
        return pod
    }

    static func allocation(_ container: String, pod: String, uid: String, at time: Int64) -> Allocation {
        Allocation(key: AttachmentKey(network: "vpcnet", containerID: container, interface: "eth0"),
                   pod: PodReference(namespace: "default", name: pod, uid: uid), address: IPv4Address(rawValue: 0x0a00_0101), allocatedAt: time)
    }

    @Test func orphansAreAllocationsOfPodsThatAreGoneOrReplacedAfterTheGrace() {
        var mirror = Self.pod("static", uid: "mirror-uid")
        mirror.raw["metadata"]?["annotations"] = ["kubernetes.io/config.hash": "kubelet-uid"]
        let pods = [Self.pod("alive", uid: "u1"), Self.pod("recreated", uid: "u2-new"), mirror]
        let allocations = [
            Self.allocation("a", pod: "alive", uid: "u1", at: 0),
            Self.allocation("b", pod: "gone", uid: "u3", at: 0),
            Self.allocation("c", pod: "recreated", uid: "u2-old", at: 0),
            Self.allocation("d", pod: "gone-but-young", uid: "u4", at: 119_000),
            Self.allocation("s", pod: "static", uid: "kubelet-uid", at: 0),
            Allocation(key: AttachmentKey(network: "vpcnet", containerID: "e", interface: "eth0"), pod: PodReference(),
                       address: IPv4Address(rawValue: 1), allocatedAt: 0),
        ]
        let orphans = AllocationCollector.orphans(allocations, pods: pods, nowMilliseconds: 120_000, grace: .seconds(60))
        #expect(orphans.map(\.key.containerID) == ["b", "c"], "young allocations, a static pod's and those without a pod are left alone")
    }

    @Test func collectionAndReschedulingAgainstTheAPI() async throws {
        let server = try await KubeAPIServer.start(KubeAPI(store: KubeStore()), host: "127.0.0.1", port: 0)
        let kube = try KubeClient(connection: server.connection())
        try await withTeardown({
            _ = try await kube.create(Self.pod("alive", uid: "ignored"))
            _ = try await kube.create(Self.pod("elsewhere", uid: "ignored", node: "n2"))
            let alive = try await kube.get(Pod.self, namespace: "default", name: "alive")

            let path = Scratch.path("collect") + ".json"
            let manager = try AddressManager(store: PoolStore(path: path), cooldownMilliseconds: 0, now: { Int64(Date().timeIntervalSince1970 * 1000) - 600_000 })
            _ = try await manager.configure(record: try SampleNode.record())
            _ = try await manager.add(AttachmentKey(network: "vpcnet", containerID: "a", interface: "eth0"),
                                      pod: PodReference(namespace: "default", name: "alive", uid: alive.uid ?? ""))
            _ = try await manager.add(AttachmentKey(network: "vpcnet", containerID: "b", interface: "eth0"),
                                      pod: PodReference(namespace: "default", name: "elsewhere", uid: ""))
            let collector = AllocationCollector(kube: kube, nodeName: "n1", manager: manager, grace: .seconds(60), logger: .init(label: "test"))
            let released = try await collector.collect()
            #expect(released.map(\.key.containerID) == ["b"], "a pod on another node does not hold this node's address")

            // Rescheduling: only a controller-owned pod is deleted; both get an Event.
            _ = try await kube.create(Self.pod("owned", uid: "x", owned: true))
            _ = try await kube.create(Self.pod("bare", uid: "y"))
            let rescheduler = PodRescheduler(kube: kube, deletePods: true, logger: .init(label: "test"))
            await rescheduler.podHasNoAddress(PodReference(namespace: "default", name: "owned"))
            await rescheduler.podHasNoAddress(PodReference(namespace: "default", name: "bare"))
            await #expect(throws: KubeError.self) { try await kube.get(Pod.self, namespace: "default", name: "owned") }
            _ = try await kube.get(Pod.self, namespace: "default", name: "bare")
            let reasons = try await kube.list(Event.self, namespace: "default").items.map { "\($0.involvedObjectName ?? ""):\($0.reason ?? "")" }
            #expect(Set(reasons) == ["owned:Rescheduled", "bare:NoFreeAddress"])
        }, teardown: { try? await kube.shutdown(); await server.stop() })
    }
}
