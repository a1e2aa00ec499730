import Testing
import VPCNetCore

@Suite struct WellKnownTests {
    @Test func namesAreInOurDomainAndDistinct() {
        let names = [WellKnown.Labels.instanceID, WellKnown.Labels.podCapacity, WellKnown.Labels.maxPods, WellKnown.Annotations.nodeNetwork,
                     WellKnown.Taints.noInterfaceConfigured.key, WellKnown.Taints.noFreeIPs.key]
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0.hasPrefix(WellKnown.domain + "/") })
        // Kubernetes label/annotation names: prefix "/" name of at most 63 characters.
        #expect(names.allSatisfy { $0.split(separator: "/").last!.count <= 63 })
    }

    @Test func taintsRenderAsKubectlWritesThem() {
        #expect(WellKnown.Taints.noFreeIPs.description == "k8s-vpcnet/no-free-ips:NoSchedule")
        #expect(WellKnown.Taints.noInterfaceConfigured.description == "k8s-vpcnet/no-interface-configured:NoSchedule")
        #expect(Taint(key: "a", value: "b", effect: .noExecute).description == "a=b:NoExecute")
    }
}
