import Kubernetes
@testable import KubeSim
import Testing
import VPCNetCore

/// Services as the API server's registry completes them: defaults, cluster IPs and node ports
/// allocated and kept, the checks users meet.
@Suite struct ServiceRegistryTests {
    let api = KubeAPI(store: KubeStore())
    static let path = "/api/v1/namespaces/default/services"

    func call(_ method: String, _ path: String, _ body: JSONValue? = nil, query: [String: String] = [:],
              contentType: String = "application/json") async -> (Int, JSONValue) {
        await api.call(method, path, body, query: query, contentType: contentType)
    }

    static func service(_ name: String, type: String? = nil, ports: [JSONValue] = [["port": 80]], extra: [String: JSONValue] = [:]) -> JSONValue {
        var spec: [String: JSONValue] = ["selector": ["app": .string(name)], "ports": .array(ports)]
        if let type { spec["type"] = .string(type) }
        spec.merge(extra) { $1 }
        return ["apiVersion": "v1", "kind": "Service", "metadata": ["name": .string(name)], "spec": .object(spec)]
    }

    @Test func aClusterIPServiceGetsItsDefaultsAndAnAddressAboveTheStaticBand() async throws {
        let (status, created) = await call("POST", Self.path, Self.service("web"))
        #expect(status == 201)
        let spec = try #require(created["spec"])
        #expect(spec["type"] == "ClusterIP" && spec["sessionAffinity"] == "None" && spec["internalTrafficPolicy"] == "Cluster")
        #expect(spec.value(at: "ports")?.arrayValue?.first == ["port": 80, "protocol": "TCP", "targetPort": 80])
        #expect(spec["externalTrafficPolicy"] == nil, "only externally reachable Services have one")
        let ip = try #require(spec["clusterIP"]?.stringValue.flatMap(IPv4Address.init))
        #expect(ServiceRegistry.defaultServiceCIDR.contains(ip) && ip.rawValue - ServiceRegistry.defaultServiceCIDR.network.rawValue >= 256)
        #expect(spec["clusterIPs"] == [.string(ip.description)])
    }

    @Test func addressesAreUniqueCheckedAndFreedWithTheService() async {
        let pinned = Self.service("dns", extra: ["clusterIP": "172.20.0.10"])
        #expect(await call("POST", Self.path, pinned).1.value(at: "spec.clusterIP") == "172.20.0.10")
        let (status, error) = await call("POST", Self.path, Self.service("other", extra: ["clusterIP": "172.20.0.10"]))
        #expect(status == 422 && (error["message"]?.stringValue ?? "").contains("provided IP is already allocated"))
        let (outside, message) = await call("POST", Self.path, Self.service("far", extra: ["clusterIP": "10.0.0.5"]))
        #expect(outside == 422 && (message["message"]?.stringValue ?? "").contains("The range of valid IPs is 172.20.0.0/16"))
        #expect(await call("DELETE", Self.path + "/dns").0 == 200)
        #expect(await call("POST", Self.path, Self.service("other", extra: ["clusterIP": "172.20.0.10"])).0 == 201, "deletion frees the address")
    }

    @Test func nodePortsAreAllocatedInRangeKeptOnUpdateAndRefusedTwice() async throws {
        let (_, created) = await call("POST", Self.path, Self.service("edge", type: "NodePort"))
        let nodePort = try #require(created.value(at: "spec.ports")?.arrayValue?.first?["nodePort"])
        guard case .int(let number) = nodePort else { Issue.record("no node port"); return }
        #expect(ServiceRegistry.nodePortRange.contains(Int(number)) && created.value(at: "spec.externalTrafficPolicy") == "Cluster")
        // A replace that leaves out the allocated values keeps them, as `patchAllocatedValues` does.
        var replaced = Self.service("edge", type: "NodePort", extra: ["externalTrafficPolicy": "Local"])
        replaced["metadata"]?["resourceVersion"] = created.value(at: "metadata.resourceVersion")
        let (updated, kept) = await call("PUT", Self.path + "/edge", replaced)
        #expect(updated == 200 && kept.value(at: "spec.ports")?.arrayValue?.first?["nodePort"] == nodePort && kept.value(at: "spec.clusterIP") == created.value(at: "spec.clusterIP"))
        let taken = Self.service("again", type: "NodePort", ports: [["port": 80, "nodePort": nodePort]])
        let (status, error) = await call("POST", Self.path, taken)
        #expect(status == 422 && (error["message"]?.stringValue ?? "").contains("provided port is already allocated"))
        #expect(await call("POST", Self.path, Self.service("low", type: "NodePort", ports: [["port": 80, "nodePort": 80]])).0 == 422)
        // Back to ClusterIP: the node port goes with the type, and is free again.
        #expect(await call("PATCH", Self.path + "/edge", ["spec": ["type": "ClusterIP"]], contentType: "application/merge-patch+json").1
            .value(at: "spec.ports")?.arrayValue?.first?["nodePort"] == nil)
        #expect(await call("POST", Self.path, taken).0 == 201)
    }

    @Test func aClusterIPCannotChangeAndBadServicesAreRefusedWithTheirFieldPaths() async {
        let (_, created) = await call("POST", Self.path, Self.service("web"))
        let moved = await call("PATCH", Self.path + "/web", ["spec": ["clusterIP": "172.20.0.99"]], contentType: "application/merge-patch+json")
        #expect(moved.0 == 422 && (moved.1["message"]?.stringValue ?? "").contains("may not change once set"))
        #expect(await call("GET", Self.path + "/web").1.value(at: "spec.clusterIP") == created.value(at: "spec.clusterIP"))
        let cases: [(JSONValue, String)] = [
            (Self.service("a", ports: []), "spec.ports: Required value"),
            (Self.service("b", ports: [["port": 80], ["port": 81]]), "spec.ports[0].name: Required value"),
            (Self.service("c", ports: [["port": 0]]), "spec.ports[0].port: Invalid value"),
            (Self.service("d", ports: [["port": 80, "protocol": "ICMP"]]), "spec.ports[0].protocol: Unsupported value"),
            (Self.service("e", ports: [["port": 80, "nodePort": 30001]]), "may not be used when `type` is 'ClusterIP'"),
            (Self.service("f", extra: ["externalTrafficPolicy": "Local"]), "may only be set for externally-accessible services"),
            (Self.service("g", extra: ["sessionAffinity": "ClientIP", "sessionAffinityConfig": ["clientIP": ["timeoutSeconds": 0]]]),
             "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0"),
            (Self.service("h", type: "Ingress"), "spec.type: Unsupported value"),
            (Self.service("i", ports: [["port": 80, "targetPort": "Not_A_Name"]]), "spec.ports[0].targetPort: Invalid value"),
        ]
        for (service, expected) in cases {
            let (status, error) = await call("POST", Self.path, service)
            #expect(status == 422 && (error["message"]?.stringValue ?? "").contains(expected), "\(expected): \(error)")
        }
    }

    @Test func aDryRunAllocatesNothing() async {
        let pinned = Self.service("dns", type: "NodePort", ports: [["port": 53, "protocol": "UDP", "nodePort": 30053]], extra: ["clusterIP": "172.20.0.10"])
        #expect(await call("POST", Self.path, pinned, query: ["dryRun": "All"]).0 == 201)
        #expect(await call("POST", Self.path, pinned).0 == 201)
    }
}
