import Foundation
import Kubernetes
import ServiceProxy
import VPCNetCore

/// The demo's steps, shared by `vpcnet-sim demo` and the end-to-end tests.
public enum ClusterDemo {
    public struct Check: Sendable {
        public var name: String
        public var from: String
        public var to: String
        public var expected: Bool
        public var passed: Bool
        public var detail: String
    }

    /// The ports every demo pod serves on (TCP and UDP), and the hostPort the first one takes.
    static let servicePort = 80, udpPort = 53, hostPort = 8080

    /// Creates `count` pods (the image is ignored: the network is real), as `kubectl run` would;
    /// each serves on TCP 80 and UDP 53 (the kubelet runs `vpcnet-sim serve`), the first on hostPort 8080 too.
    public static func createPods(_ kube: KubeClient, count: Int, prefix: String = "demo") async throws {
        for index in 0..<count {
            var pod = Pod(name: "\(prefix)-\(index)", namespace: "default")
            pod.raw["metadata"]?["labels"] = ["app": .string(prefix)]
            var port: JSONValue = ["containerPort": .int(Int64(servicePort))]
            if index == 0 { port["hostPort"] = .int(Int64(hostPort)) }
            let udp: JSONValue = ["containerPort": .int(Int64(udpPort)), "protocol": "UDP"]
            pod.raw["spec"] = ["containers": [["name": "app", "image": "registry.k8s.io/agnhost:2.52", "ports": [port, udp]]]]
            _ = try await kube.create(pod)
        }
    }

    /// The demo's Services: `demo` (ClusterIP, TCP 80 and UDP 53) and `demo-edge` (NodePort,
    /// `externalTrafficPolicy: Local`), both in front of every demo pod.
    public struct Services: Sendable {
        public var clusterIP: String
        public var nodePort: Int
    }

    public static func createServices(_ kube: KubeClient, prefix: String = "demo") async throws -> Services {
        func service(_ name: String, _ spec: JSONValue) -> Service {
            Service(raw: ["apiVersion": "v1", "kind": "Service", "metadata": ["name": .string(name), "namespace": "default"], "spec": spec])
        }
        let cluster = try await kube.create(service(prefix, [
            "selector": ["app": .string(prefix)],
            "ports": [["name": "http", "port": .int(Int64(servicePort))], ["name": "dns", "port": .int(Int64(udpPort)), "protocol": "UDP"]],
        ]))
        let edge = try await kube.create(service("\(prefix)-edge", [
            "type": "NodePort", "externalTrafficPolicy": "Local", "selector": ["app": .string(prefix)], "ports": [["port": .int(Int64(servicePort))]],
        ]))
        guard let ip = cluster.clusterIP, let nodePort = edge.ports.first?.nodePort else {
            throw ClusterControl.Failure("the API gave the demo's Services no cluster IP or node port")
        }
        return Services(clusterIP: ip, nodePort: nodePort)
    }

    /// Waits until every pod with the label `app=prefix` runs with an address.
    public static func waitRunning(_ kube: KubeClient, prefix: String = "demo", count: Int, timeout: Duration = .seconds(180),
                                   progress: (Int) -> Void = { _ in }) async throws -> [Pod] {
        let deadline = ContinuousClock.now + timeout
        var last = -1
        while ContinuousClock.now < deadline {
            let pods = try await kube.list(Pod.self, namespace: "default", labelSelector: "app=\(prefix)").items
            let running = pods.filter { $0.phase == "Running" && $0.podIP != nil }
            if running.count != last { last = running.count; progress(running.count) }
            if running.count >= count { return running.sorted { $0.name.compare($1.name, options: .numeric) == .orderedAscending } }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw ClusterControl.Failure("only \(last) of \(count) pods were running after \(timeout)")
    }

    /// Address → ENI, from the nodes' records.
    public static func enis(_ kube: KubeClient) async throws -> [String: String] {
        var owners: [String: String] = [:]
        for node in try await kube.list(Node.self).items {
            guard let text = node.annotations[WellKnown.Annotations.nodeNetwork], let record = try? NodeNetworkRecord(json: text) else { continue }
            for eni in record.podENIs { for address in eni.podAddresses { owners[address.description] = eni.id.description } }
        }
        return owners
    }

    public static func table(_ pods: [Pod], state: ClusterState, enis: [String: String]) -> String {
        var rows = [["POD", "NODE", "ADDRESS", "ENI", "ZONE"]]
        for pod in pods {
            let node = state.nodes.first { $0.name == pod.nodeName }
            rows.append([pod.name, pod.nodeName ?? "", pod.podIP ?? "", enis[pod.podIP ?? ""] ?? "", node?.zone ?? ""])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ") }
            .joined(separator: "\n")
    }

    /// The connectivity matrix: pod↔pod on one node, across nodes and zones, pod→node,
    /// pod→internet (through SNAT), who answers on a pod's port, on a hostPort, on the Services'
    /// cluster IP (TCP, UDP) and NodePort (from the internet, its address kept), pod→instance
    /// metadata (blocked), node→instance metadata.
    public static func connectivity(_ pods: [Pod], state: ClusterState, services: Services? = nil) async -> [Check] {
        let names = SimNames(prefix: state.prefix)
        func namespace(_ pod: Pod) -> String { names.pod(pod.uid ?? "") }
        func zone(_ pod: Pod) -> String { state.nodes.first { $0.name == pod.nodeName }?.zone ?? "" }
        var checks: [Check] = []
        func ping(_ name: String, from pod: Pod, to address: String, expected: Bool = true) async {
            let result = try? await Shell.inNamespace(namespace(pod), ["ping", "-c", "1", "-W", "2", address])
            checks.append(Check(name: name, from: pod.name, to: address, expected: expected, passed: (result != nil) == expected,
                                detail: result == nil ? "no answer" : "answered"))
        }
        guard let first = pods.first else { return [] }
        if let sameNode = pods.first(where: { $0.name != first.name && $0.nodeName == first.nodeName }) {
            await ping("pod → pod, same node", from: first, to: sameNode.podIP ?? "")
        }
        if let otherNode = pods.first(where: { $0.nodeName != first.nodeName && zone($0) == zone(first) }) {
            await ping("pod → pod, other node, same zone", from: first, to: otherNode.podIP ?? "")
        }
        if let otherZone = pods.first(where: { zone($0) != zone(first) }) {
            await ping("pod → pod, other zone", from: first, to: otherZone.podIP ?? "")
            await ping("pod ← pod, other zone", from: otherZone, to: first.podIP ?? "")
        }
        if let node = state.nodes.first(where: { $0.name != first.nodeName }) {
            await ping("pod → node", from: first, to: node.primaryIP)
        }
        await ping("pod → internet (SNAT)", from: first, to: state.internetHost)
        // Who answers on a pod's port, and on the first pod's hostPort through its node's address.
        // This executable (vpcnet-sim) is the client; resolved here, not in the `ip` it runs under.
        let client = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        func ask(_ name: String, from pod: Pod, to target: String, answer: String, udp: Bool = false) async {
            await ask(name, in: namespace(pod), called: pod.name, to: target, answer: answer, udp: udp)
        }
        func ask(_ name: String, in namespace: String, called: String, to target: String, answer: String, udp: Bool = false,
                 suffix: String = "") async {
            var said: String?
            for attempt in 0..<5 where said == nil {
                if attempt > 0 { try? await Task.sleep(for: .milliseconds(500)) }  // the pod's server may still be starting
                said = try? await Shell.inNamespace(namespace, [client, "ask", target] + (udp ? ["--udp"] : []))
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            checks.append(Check(name: name, from: called, to: target, expected: true,
                                passed: said.map { $0.hasPrefix(answer) && $0.hasSuffix(suffix) } == true, detail: said ?? "no answer"))
        }
        if let otherZone = pods.first(where: { zone($0) != zone(first) }) {
            await ask("pod → pod, TCP :\(servicePort)", from: first, to: "\(otherZone.podIP ?? ""):\(servicePort)",
                      answer: "\(otherZone.name) saw \(first.podIP ?? "")")
        }
        if let node = state.nodes.first(where: { $0.name == first.nodeName }),
           let elsewhere = pods.first(where: { $0.nodeName != first.nodeName }) {
            await ask("pod → hostPort, other node", from: elsewhere, to: "\(node.primaryIP):\(hostPort)", answer: "\(first.name) saw ")
        }
        if let services {
            let prefix = first.name.split(separator: "-").dropLast().joined(separator: "-") + "-"
            await ask("pod → Service, TCP :\(servicePort)", from: first, to: "\(services.clusterIP):\(servicePort)", answer: prefix)
            await ask("pod → Service, UDP :\(udpPort)", from: first, to: "\(services.clusterIP):\(udpPort)", answer: prefix, udp: true)
            if let node = state.nodes.first(where: { $0.name == first.nodeName }) {
                await ask("internet → NodePort (Local, source kept)", in: names.internet, called: "internet",
                          to: "\(node.primaryIP):\(services.nodePort)", answer: prefix, suffix: " saw \(state.internetHost)")
            }
        }
        let metadata = "exec 3<>/dev/tcp/\(VPCFabric.metadataAddress)/80 && printf 'GET /latest/meta-data/instance-id HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
        let fromPod = try? await Shell.inNamespace(namespace(first), ["timeout", "3", "bash", "-c", metadata])
        checks.append(Check(name: "pod → instance metadata (blocked)", from: first.name, to: VPCFabric.metadataAddress, expected: false,
                            passed: fromPod == nil, detail: fromPod == nil ? "refused" : "reached it"))
        if let node = state.nodes.first(where: { $0.name == first.nodeName }) {
            let fromNode = try? await Shell.inNamespace(node.namespace, ["timeout", "3", "bash", "-c", metadata])
            let answered = fromNode?.contains(node.instanceID) == true
            checks.append(Check(name: "node → instance metadata", from: node.name, to: VPCFabric.metadataAddress, expected: true,
                                passed: answered, detail: answered ? "instance-id \(node.instanceID)" : "no answer"))
        }
        return checks
    }

    public static func matrix(_ checks: [Check]) -> String {
        let width = checks.map(\.name.count).max() ?? 0
        return checks.map { check in
            "\(check.passed ? "✓" : "✗") \(check.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(check.from) → \(check.to): \(check.detail)"
        }.joined(separator: "\n")
    }
}
