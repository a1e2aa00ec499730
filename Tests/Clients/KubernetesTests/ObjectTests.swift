import Kubernetes
import Testing
import VPCNetCore

@Suite struct ObjectTests {
    /// A node as a real API server returns it, with fields vpcnet does not model.
    static let nodeJSON = #"""
    {"apiVersion":"v1","kind":"Node","metadata":{"name":"ip-10-0-1-5.ec2.internal","uid":"u-1","resourceVersion":"42",
     "labels":{"kubernetes.io/hostname":"ip-10-0-1-5"},"annotations":{"node.alpha.kubernetes.io/ttl":"0"},
     "managedFields":[{"manager":"kubelet","operation":"Update"}]},
     "spec":{"providerID":"aws:///us-east-1a/i-0123456789abcdef0","podCIDR":"10.244.1.0/24",
      "taints":[{"key":"node.kubernetes.io/not-ready","effect":"NoSchedule","timeAdded":"2026-11-26T10:00:00Z"}]},
     "status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"}],"capacity":{"pods":"110"},
      "nodeInfo":{"kubeletVersion":"v1.32.0"}}}
    """#

    @Test func editsKeepEverythingElse() throws {
        var node = Node(raw: try JSONValue(parsing: Array(Self.nodeJSON.utf8)))
        let original = node.raw
        #expect(node.name == "ip-10-0-1-5.ec2.internal" && node.resourceVersion == "42" && node.isReady)
        #expect(try AWSProviderID(parsing: node.providerID ?? "").instanceID.rawValue == "i-0123456789abcdef0")

        node.labels[WellKnown.Labels.instanceID] = "i-0123456789abcdef0"
        node.annotations[WellKnown.Annotations.nodeNetwork] = #"{"version":1}"#
        let added = node.addTaint(WellKnown.Taints.noInterfaceConfigured)
        let addedAgain = node.addTaint(WellKnown.Taints.noInterfaceConfigured)
        #expect(added && !addedAgain, "adding twice changes nothing the second time")
        #expect(node.hasTaint(WellKnown.Taints.noInterfaceConfigured))

        // Everything vpcnet did not touch is byte-for-byte what the server sent.
        for path in ["metadata.managedFields", "metadata.uid", "spec.podCIDR", "spec.providerID", "status", "apiVersion"] {
            #expect(node.raw.value(at: path) != nil && node.raw.value(at: path) == original.value(at: path), "\(path) changed")
        }
        #expect(node.annotations["node.alpha.kubernetes.io/ttl"] == "0")
        #expect(node.raw.value(at: "spec.taints")?.arrayValue?.first == original.value(at: "spec.taints")?.arrayValue?.first,
                "the other taint keeps its timeAdded")
        #expect(node.labels["kubernetes.io/hostname"] == "ip-10-0-1-5")

        let removed = node.removeTaint(key: WellKnown.Taints.noInterfaceConfigured.key, effect: .noSchedule)
        let removedAgain = node.removeTaint(key: WellKnown.Taints.noInterfaceConfigured.key, effect: .noSchedule)
        #expect(removed && !removedAgain)
        #expect(node.raw.value(at: "spec.taints") == original.value(at: "spec.taints"))
    }

    @Test func podsAndTolerations() {
        var pod = Pod(name: "web-1", namespace: "default")
        #expect(pod.raw.serialized() == #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"default"}}"#)
        pod.nodeName = "node-1"
        pod.podIP = "10.0.1.20"
        #expect(pod.raw.value(at: "status.podIPs") == [["ip": "10.0.1.20"]])
        #expect(!pod.tolerates(WellKnown.Taints.noFreeIPs))
        pod.raw["spec"]?["tolerations"] = [["key": "k8s-vpcnet/no-free-ips", "operator": "Exists", "effect": "NoSchedule"]]
        #expect(pod.tolerates(WellKnown.Taints.noFreeIPs))
        #expect(!pod.tolerates(WellKnown.Taints.noInterfaceConfigured))
        pod.raw["spec"]?["tolerations"] = [["operator": "Exists"]]
        #expect(pod.tolerates(WellKnown.Taints.noInterfaceConfigured), "an empty key with Exists tolerates everything")
    }

    @Test func leasesAndEvents() {
        var lease = Lease(name: "eni-controller", namespace: "kube-system")
        lease.holderIdentity = "controller-a"
        lease.leaseDurationSeconds = 15
        lease.leaseTransitions += 1
        #expect(lease.holderIdentity == "controller-a" && lease.leaseDurationSeconds == 15 && lease.leaseTransitions == 1)
        var node = Node(name: "node-1")
        node.raw["metadata"]?["uid"] = "u-9"
        let event = Event(about: node, type: .warning, reason: "ENIAttachFailed", message: "AttachmentLimitExceeded",
                          component: "eni-controller", name: "node-1.abc", time: "2026-11-26T10:00:00Z")
        #expect(event.raw.value(at: "involvedObject.uid") == "u-9" && event.raw.value(at: "involvedObject.kind") == "Node")
        #expect(event.namespace == "default" && event.reason == "ENIAttachFailed")
    }
}
