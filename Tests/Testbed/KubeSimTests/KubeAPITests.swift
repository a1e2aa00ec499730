import Kubernetes
@testable import KubeSim
import Testing
import VPCNetCore

/// The REST layer in-process: routing, subresources and discovery (kubectl covers the wire).
@Suite struct KubeAPITests {
    let api = KubeAPI(store: KubeStore())

    func call(_ method: String, _ path: String, _ body: JSONValue? = nil, query: [String: String] = [:],
              contentType: String = "application/json") async -> (Int, JSONValue) {
        await api.call(method, path, body, query: query, contentType: contentType)
    }

    @Test func discoveryListsWhatIsServed() async {
        let (status, v1) = await call("GET", "/api/v1")
        #expect(status == 200)
        let names = v1["resources"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(Set(["nodes", "nodes/status", "pods", "pods/status", "pods/binding", "events", "configmaps", "namespaces"]).isSubset(of: names))
        #expect(await call("GET", "/apis/coordination.k8s.io/v1").1["resources"]?.arrayValue?.first?["name"] == "leases")
        let groups = await call("GET", "/apis").1["groups"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(Set(groups) == ["apiextensions.k8s.io", "coordination.k8s.io", "rbac.authorization.k8s.io", "apps", "policy", "discovery.k8s.io"])
        #expect(await call("GET", "/api/v2").0 == 404)
        #expect(await call("GET", "/api/v1/namespaces").1["items"]?.arrayValue?.count == 4, "the standard namespaces exist")
    }

    static let daemonSet: JSONValue = [
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": ["name": "agent", "namespace": "kube-system"],
        "spec": ["selector": ["matchLabels": ["app": "agent"]],
                 "template": ["metadata": ["labels": ["app": "agent"]], "spec": ["containers": [["name": "a", "image": "i:1"]]]]],
    ]

    @Test func dryRunChecksAndReturnsButStoresNothing() async {
        let (status, object) = await call("POST", "/apis/apps/v1/namespaces/kube-system/daemonsets", Self.daemonSet, query: ["dryRun": "All"])
        #expect(status == 201 && object.value(at: "metadata.uid") != nil)
        #expect(await call("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/agent").0 == 404)
        #expect(await call("POST", "/apis/apps/v1/namespaces/kube-system/daemonsets", Self.daemonSet, query: ["dryRun": "Some"]).0 == 400)
        #expect(await call("POST", "/apis/apps/v1/namespaces/nowhere/daemonsets", Self.daemonSet).0 == 404, "the namespace must exist")
    }

    @Test func serverSideApplyCreatesThenMerges() async {
        let path = "/apis/apps/v1/namespaces/kube-system/daemonsets/agent"
        let apply = "application/apply-patch+yaml"
        #expect(await call("PATCH", path, Self.daemonSet, contentType: apply).0 == 400, "fieldManager is required")
        #expect(await call("PATCH", path, Self.daemonSet, query: ["fieldManager": "t"], contentType: apply).0 == 201)
        var changed = Self.daemonSet
        changed["metadata"]?["labels"] = ["tier": "node"]
        let (status, merged) = await call("PATCH", path, changed, query: ["fieldManager": "t"], contentType: apply)
        #expect(status == 200 && merged.value(at: "metadata.labels.tier") == "node" && merged.value(at: "spec.selector.matchLabels.app") == "agent")
        let version = merged.value(at: "metadata.resourceVersion")
        #expect(await call("PATCH", path, changed, query: ["fieldManager": "t"], contentType: apply).1.value(at: "metadata.resourceVersion") == version,
                "applying the same configuration changes nothing")
    }

    @Test func manifestsTheAPIServerWouldRejectAreRejected() async {
        var mismatched = Self.daemonSet
        mismatched["spec"]?["template"]?["metadata"] = ["labels": ["app": "other"]]
        let (status, error) = await call("POST", "/apis/apps/v1/namespaces/kube-system/daemonsets", mismatched)
        #expect(status == 422 && (error["message"]?.stringValue ?? "").contains("selector does not match template labels"))
        var noImage = Self.daemonSet
        noImage["spec"]?["template"]?["spec"] = ["containers": [["name": "a"]]]
        #expect(await call("POST", "/apis/apps/v1/namespaces/kube-system/daemonsets", noImage).1["message"]?.stringValue?
            .contains("spec.template.spec.containers[0].image: Required value") == true)
        let binding: JSONValue = ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": ["name": "b"],
                                  "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "x"]]
        #expect(await call("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding).0 == 422)
        let budget: JSONValue = ["apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": ["name": "p", "namespace": "default"],
                                 "spec": ["minAvailable": 1, "maxUnavailable": 1, "selector": ["matchLabels": ["a": "b"]]]]
        #expect(await call("POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", budget).0 == 422)
        var badName = Self.daemonSet
        badName["metadata"]?["name"] = "Agent_1"
        #expect(await call("POST", "/apis/apps/v1/namespaces/kube-system/daemonsets", badName).0 == 422)
    }

    @Test func theAuditTellsCallersApartByUserAgent() async {
        _ = await api.handle(method: "GET", path: "/api/v1/nodes", query: ["watch": "true"], contentType: nil, body: [],
                             caller: .init(userAgent: "agent-a"))
        _ = await api.handle(method: "PUT", path: "/api/v1/nodes/n/status", query: [:], contentType: nil, body: [], caller: .init(userAgent: "agent-b"))
        _ = await api.handle(method: "GET", path: "/apis", query: [:], contentType: nil, body: [], caller: .init(userAgent: "agent-b"))
        let entries = api.audit.entries.map { "\($0.userAgent) \($0.verb) \($0.group)/\($0.resource)" }
        #expect(entries == ["agent-a watch /nodes", "agent-b update /nodes/status"], "discovery is not a resource")
    }

    @Test func bindingAndStatusSubresources() async {
        let pod = Pod(name: "web", namespace: "default").raw
        #expect(await call("POST", "/api/v1/namespaces/default/pods", pod).0 == 201)
        let binding: JSONValue = ["apiVersion": "v1", "kind": "Binding", "metadata": ["name": "web"], "target": ["kind": "Node", "name": "node-1"]]
        #expect(await call("POST", "/api/v1/namespaces/default/pods/web/binding", binding).0 == 201)
        #expect(await call("POST", "/api/v1/namespaces/default/pods/web/binding", binding).0 == 409, "a bound pod cannot be bound again")
        #expect(await call("GET", "/api/v1/namespaces/default/pods/web").1.value(at: "spec.nodeName") == "node-1")

        // The main resource ignores status; /status changes only status.
        let onlyStatus: JSONValue = ["status": ["phase": "Running"]]
        #expect(await call("PATCH", "/api/v1/namespaces/default/pods/web", onlyStatus, contentType: "application/merge-patch+json")
            .1.value(at: "status.phase") == nil)
        let statusPatch: JSONValue = ["status": ["phase": "Running", "podIP": "10.0.1.20"], "spec": ["nodeName": "elsewhere"]]
        let (status, patched) = await call("PATCH", "/api/v1/namespaces/default/pods/web/status", statusPatch,
                                           contentType: "application/merge-patch+json")
        #expect(status == 200 && patched.value(at: "status.podIP") == "10.0.1.20" && patched.value(at: "spec.nodeName") == "node-1")
    }

    @Test func wrongPathsAndVerbsAreStatusErrors() async {
        #expect(await call("DELETE", "/api/v1/nodes").0 == 405)
        #expect(await call("GET", "/api/v1/nodes/x/logs").0 == 404)
        #expect(await call("GET", "/api/v1/pods/x").0 == 400, "a namespaced object needs its namespace")
        let (status, error) = await call("GET", "/api/v1/nodes/missing")
        #expect(status == 404 && error["kind"] == "Status" && error["reason"] == "NotFound")
        let lease = Lease(name: "eni-controller", namespace: "kube-system").raw
        #expect(await call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", lease).0 == 201)
        #expect(await call("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/eni-controller").0 == 200)
    }

    @Test func injectedFaultsAndWatchControl() async throws {
        #expect(await call("POST", "/api/v1/nodes", Node(name: "n").raw).0 == 201)
        #expect(await call("POST", "/_sim/faults", ["verb": "patch", "resource": "nodes", "code": 409, "count": 2]).0 == 200)
        let patch: JSONValue = ["metadata": ["labels": ["a": "b"]]]
        #expect(await call("PATCH", "/api/v1/nodes/n", patch, contentType: "application/merge-patch+json").0 == 409)
        #expect(await call("GET", "/api/v1/nodes/n").0 == 200, "other verbs are not affected")
        #expect(await call("PATCH", "/api/v1/nodes/n", patch, contentType: "application/merge-patch+json").0 == 409)
        #expect(await call("PATCH", "/api/v1/nodes/n", patch, contentType: "application/merge-patch+json").0 == 200)
        #expect(await call("POST", "/_sim/faults", ["code": 429]).0 == 200)
        let (status, error) = await call("GET", "/api/v1/pods")
        #expect(status == 429 && error["reason"] == "TooManyRequests")
        #expect(await call("POST", "/_sim/faults", ["code": 99]).0 == 400)

        // A watch is ended on demand, and resuming from before a compaction is 410 Gone.
        let revision = api.store.currentRevision
        let reply = await api.handle(method: "GET", path: "/api/v1/nodes", query: ["watch": "true", "resourceVersion": String(revision)],
                                     contentType: nil, body: [])
        guard case .watch(let stream, _) = reply else { Issue.record("not a watch"); return }
        #expect(await call("POST", "/_sim/drop-watches").0 == 200)
        for await _ in stream {}
        #expect(await call("POST", "/api/v1/nodes", Node(name: "m").raw).0 == 201)
        #expect(await call("POST", "/_sim/compact").0 == 200)
        // As the real API server: a 200 watch whose only event is an ERROR carrying 410 Expired.
        let goneReply = await api.handle(method: "GET", path: "/api/v1/nodes", query: ["watch": "true", "resourceVersion": String(revision)],
                                         contentType: nil, body: [])
        guard case .watch(let gone, _) = goneReply else { Issue.record("not a watch"); return }
        var events: [WatchEvent] = []
        for await event in gone { events.append(event) }
        #expect(events.count == 1 && events.first?.kind == .error && events.first?.object["code"] == 410)
        #expect(events.first?.object["reason"] == "Expired")
    }
}
