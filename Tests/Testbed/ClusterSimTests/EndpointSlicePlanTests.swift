@testable import ClusterSim
import Kubernetes
import ServiceProxy
import Testing
import VPCNetCore

/// What the endpoint-slice controller writes for a Service, and what it rewrites.
@Suite struct EndpointSlicePlanTests {
    static func pod(_ name: String, ip: String?, node: String = "n1", ready: Bool = true, labels: [String: String] = ["app": "web"],
                    ports: [JSONValue] = [["name": "http", "containerPort": 8080]]) -> Pod {
        var pod = Pod(name: name, namespace: "default")
        pod.raw["metadata"]?["uid"] = .string("uid-\(name)")
        pod.raw["metadata"]?["labels"] = .object(labels.mapValues(JSONValue.string))
        pod.raw["spec"] = ["nodeName": .string(node), "containers": [["name": "app", "image": "i", "ports": .array(ports)]]]
        pod.raw["status"] = ["phase": "Running", "conditions": [["type": "Ready", "status": ready ? "True" : "False"]]]
        if let ip { pod.podIP = ip }
        return pod
    }

    static let service = Service(raw: [
        "metadata": ["name": "web", "namespace": "default", "uid": "svc-uid"],
        "spec": ["selector": ["app": "web"], "ports": [["name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"],
                                                        ["name": "raw", "protocol": "TCP", "port": 81, "targetPort": 9090]]],
    ])

    @Test func selectedPodsWithAddressesBecomeEndpointsWithNodeZoneAndReadiness() throws {
        let pods = [Self.pod("a", ip: "10.0.0.5"), Self.pod("b", ip: "10.0.0.6", node: "n2", ready: false), Self.pod("c", ip: nil),
                    Self.pod("d", ip: "10.0.0.7", labels: ["app": "other"])]
        let slices = EndpointSlicePlan.desired(for: Self.service, pods: pods, zones: ["n1": "us-east-1a", "n2": "us-east-1b"])
        let slice = try #require(slices.first)
        #expect(slices.count == 1 && slice["addressType"] == "IPv4")
        #expect(Set(slice["ports"]?.arrayValue ?? []) == [["name": "http", "protocol": "TCP", "port": 8080], ["name": "raw", "protocol": "TCP", "port": 9090]])
        let endpoints = EndpointSlice(raw: slice).endpoints
        #expect(endpoints.map(\.address) == ["10.0.0.5", "10.0.0.6"], "no address, or not selected: no endpoint")
        #expect(endpoints.map(\.ready) == [true, false] && endpoints.map(\.serving) == [true, false] && endpoints[1].zone == "us-east-1b")
        #expect(slice["endpoints"]?.arrayValue?.first?.value(at: "targetRef.uid") == "uid-a")
    }

    @Test func aNamedPortResolvingDifferentlyPerPodSplitsTheSlices() {
        let pods = [Self.pod("a", ip: "10.0.0.5"), Self.pod("b", ip: "10.0.0.6", ports: [["name": "http", "containerPort": 8081]]),
                    Self.pod("c", ip: "10.0.0.8", ports: [])]
        let slices = EndpointSlicePlan.desired(for: Self.service, pods: pods, zones: [:])
        #expect(slices.count == 3, "8080, 8081, and the pod without the named port (only the numbered one)")
        let unresolved = slices.first { ($0["ports"]?.arrayValue ?? []).count == 1 }
        #expect(unresolved?["ports"]?.arrayValue?.first?["name"] == "raw")
    }

    @Test func existingSlicesAreKeptWhenRightRewrittenWhenNotAndExtrasDeleted() {
        let desired = EndpointSlicePlan.desired(for: Self.service, pods: [Self.pod("a", ip: "10.0.0.5")], zones: [:])
        var current = EndpointSlice(raw: desired[0])
        current.raw["metadata"] = ["name": "web-abcde"]
        #expect(EndpointSlicePlan(desired: desired, existing: [current]).updates.isEmpty, "nothing changed, nothing written")
        var stale = current
        stale.raw["endpoints"] = []
        let rewrite = EndpointSlicePlan(desired: desired, existing: [stale])
        #expect(rewrite.creations.isEmpty && rewrite.deletions.isEmpty && rewrite.updates.map(\.0.name) == ["web-abcde"])
        var twin = current
        twin.raw["metadata"] = ["name": "web-fghij"]
        let extra = EndpointSlicePlan(desired: desired, existing: [stale, twin])
        #expect(extra.updates.isEmpty && extra.creations.isEmpty && extra.deletions.map(\.name) == ["web-abcde"], "the right one stays")
        #expect(EndpointSlicePlan(desired: [], existing: [current]).deletions.count == 1, "no pods: no slices")
    }
}
