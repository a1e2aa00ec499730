import Kubernetes
@testable import KubeSim
import Testing
import VPCNetCore

/// Workloads as the API server keeps them: defaults, `metadata.generation`, the `scale` subresource.
@Suite struct WorkloadAPITests {
    let api = KubeAPI(store: KubeStore())
    static let path = "/apis/apps/v1/namespaces/default/deployments"
    static let deployment: JSONValue = [
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"],
        "spec": ["selector": ["matchLabels": ["app": "web"]],
                 "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "a", "image": "i"]]]]],
    ]

    func call(_ method: String, _ path: String, _ body: JSONValue? = nil, contentType: String = "application/json") async -> (Int, JSONValue) {
        await api.call(method, path, body, contentType: contentType)
    }

    @Test func aDeploymentGetsItsDefaultsAndAGenerationThatCountsSpecChanges() async {
        let (status, created) = await call("POST", Self.path, Self.deployment)
        #expect(status == 201 && created.value(at: "metadata.generation") == 1 && created.value(at: "spec.replicas") == 1)
        #expect(created.value(at: "spec.strategy") == ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": "25%", "maxSurge": "25%"]])
        #expect(created.value(at: "spec.revisionHistoryLimit") == 10 && created.value(at: "spec.template.spec.restartPolicy") == "Always")
        let merge = "application/merge-patch+json"
        let labelled = await call("PATCH", Self.path + "/web", ["metadata": ["labels": ["tier": "front"]]], contentType: merge).1
        #expect(labelled.value(at: "metadata.generation") == 1, "metadata is not spec")
        let restarted = await call("PATCH", Self.path + "/web", ["spec": ["template": ["metadata": ["annotations": ["kubectl.kubernetes.io/restartedAt": "now"]]]]],
                                   contentType: "application/strategic-merge-patch+json").1
        #expect(restarted.value(at: "metadata.generation") == 2)
        let observed = await call("PATCH", Self.path + "/web/status", ["status": ["observedGeneration": 2]], contentType: merge).1
        #expect(observed.value(at: "metadata.generation") == 2 && observed.value(at: "status.observedGeneration") == 2)
    }

    @Test func theScaleSubresourceReadsAndWritesReplicas() async {
        _ = await call("POST", Self.path, Self.deployment)
        let (status, scale) = await call("GET", Self.path + "/web/scale")
        #expect(status == 200 && scale["kind"] == "Scale" && scale["apiVersion"] == "autoscaling/v1" && scale.value(at: "spec.replicas") == 1)
        #expect(scale.value(at: "status.selector") == "app=web")
        let patched = await call("PATCH", Self.path + "/web/scale", ["spec": ["replicas": 3]], contentType: "application/merge-patch+json")
        #expect(patched.0 == 200 && patched.1.value(at: "spec.replicas") == 3)
        let stored = await call("GET", Self.path + "/web").1
        #expect(stored.value(at: "spec.replicas") == 3 && stored.value(at: "metadata.generation") == 2)
        var replace = patched.1
        replace["spec"] = ["replicas": 5]
        #expect(await call("PUT", Self.path + "/web/scale", replace).1.value(at: "spec.replicas") == 5)
        #expect(await call("PUT", Self.path + "/web/scale", replace).0 == 409, "a stale resourceVersion conflicts")
        #expect(await call("PATCH", Self.path + "/web/scale", ["spec": ["replicas": -1]], contentType: "application/merge-patch+json").0 == 422)
        let discovery = await call("GET", "/apis/apps/v1").1["resources"]?.arrayValue ?? []
        #expect(discovery.contains { $0["name"] == "deployments/scale" && $0["group"] == "autoscaling" && $0["kind"] == "Scale" })
        #expect(discovery.contains { $0["name"] == "replicasets" })
    }
}
