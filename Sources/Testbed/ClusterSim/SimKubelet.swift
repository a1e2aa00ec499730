import ControllerRuntime
import Foundation
import Kubernetes
import Logging
import VPCNetCore

/// One simulated node as its kubelet knows it.
public struct SimNode: Codable, Sendable, Hashable {
    public var name: String
    public var namespace: String
    public var instanceID: String
    public var instanceType: String
    public var zone: String
    public var primaryIP: String
    /// This node's CNI directories and the daemon's state, under the cluster's state directory.
    public var directory: String
    public var maxPods: Int

    public var cniConfDirectory: String { directory + "/cni/net.d" }
    public var cniBinDirectory: String { directory + "/cni/bin" }
    public var conflist: String { cniConfDirectory + "/10-vpcnet.conflist" }
}

/// A kubelet for the simulated cluster: reports the node Ready once its CNI configuration exists
/// (as a real kubelet reports NetworkReady), and runs its pods as network namespaces attached
/// through libcni (`cnitool`) with the conflist the daemon wrote: ADD with retries and Events on
/// failure, DEL when the pod goes.
public actor SimKubelet {
    let kube: KubeClient
    let node: SimNode
    let names: SimNames
    let cnitool: String
    let pods: Informer<Pod>
    let events: EventRecorder
    let logger: Logger
    private var running: [String: (namespace: String, podName: String, address: String)] = [:]
    private var starting: Set<String> = []
    private var backoff: [String: (attempt: Int, until: ContinuousClock.Instant)] = [:]
    private var reportedReady: Bool?
    /// Each sandbox's pod as it was at ADD: its DEL gets the same runtimeConfig, as containerd's does.
    private var sandboxes: [String: Pod] = [:]

    /// `vpcnet-sim serve`, which answers on the pods' containerPorts, and the state directory its
    /// command lines name (so `down` finds one that outlived its cluster).
    let podServer: (executable: String, owner: String)?
    /// Each running pod's server: a container, restarted when it exits.
    private var servers: [String: ChildProcess] = [:]

    public init(kube: KubeClient, node: SimNode, names: SimNames, cnitool: String, pods: Informer<Pod>,
                podServer: (executable: String, owner: String)? = nil, logger: Logger) {
        self.kube = kube
        self.node = node
        self.names = names
        self.cnitool = cnitool
        self.pods = pods
        self.podServer = podServer
        self.logger = logger
        events = EventRecorder(client: kube, component: "kubelet", logger: logger)
    }

    public func run() async {
        await pods.waitForSync()
        while !Task.isCancelled {
            await reportStatus()
            await sync()
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Tears down every pod it runs (for `down`).
    public func stopAll() async {
        for (uid, pod) in running { await teardown(uid: uid, namespace: pod.namespace, podName: pod.podName) }
    }

    private func reportStatus() async {
        let ready = FileManager.default.fileExists(atPath: node.conflist)
        guard ready != reportedReady else { return }
        let now = ISO8601DateFormatter().string(from: Date())
        let condition: JSONValue = ["type": "Ready", "status": .string(ready ? "True" : "False"), "lastHeartbeatTime": .string(now),
                                    "lastTransitionTime": .string(now), "reason": .string(ready ? "KubeletReady" : "NetworkPluginNotReady"),
                                    "message": .string(ready ? "kubelet is posting ready status" : "network plugin not ready: no CNI configuration")]
        let pods = JSONValue.string(String(node.maxPods))
        do {
            _ = try await kube.patch(Node.self, name: node.name, subresource: "status", .merge, [
                "status": ["conditions": [condition], "capacity": ["pods": pods], "allocatable": ["pods": pods],
                           "addresses": [["type": "InternalIP", "address": .string(node.primaryIP)], ["type": "Hostname", "address": .string(node.name)]]],
            ])
            reportedReady = ready
        } catch {
            logger.warning("cannot report node status", metadata: ["node": "\(node.name)", "error": "\(error)"])
        }
    }

    private func sync() async {
        let mine = pods.list().filter { $0.nodeName == node.name && !["Succeeded", "Failed"].contains($0.phase ?? "") }
        let wanted = Dictionary(mine.compactMap { pod in pod.uid.map { ($0, pod) } }, uniquingKeysWith: { first, _ in first })
        for (uid, pod) in running where wanted[uid] == nil {
            running[uid] = nil
            await teardown(uid: uid, namespace: pod.namespace, podName: pod.podName)
        }
        let now = ContinuousClock.now
        for (uid, pod) in wanted where running[uid] == nil && !starting.contains(uid) {
            if let wait = backoff[uid], wait.until > now { continue }
            starting.insert(uid)
            Task { await self.start(pod, uid: uid) }
        }
    }

    private func start(_ pod: Pod, uid: String) async {
        defer { starting.remove(uid) }
        if pod.hostNetwork {
            running[uid] = ("", pod.name, node.primaryIP)
            await setRunning(pod, address: node.primaryIP)
            return
        }
        let namespace = names.pod(uid)
        do {
            _ = try? await Shell.run(["ip", "netns", "add", namespace])
            try await Shell.ip(namespace, "link", "set", "lo", "up")
            sandboxes[uid] = pod
            let output = try await cni("add", namespace: namespace, pod: pod, uid: uid)
            guard let result = try? JSONValue(parsing: Array(output.utf8)), let address = result["ips"]?.arrayValue?.first?["address"]?.stringValue,
                  let ip = address.split(separator: "/").first.map(String.init) else {
                throw CommandError(command: "cnitool add", status: "no address in the result", output: output)
            }
            // The pod may have been deleted while its network was set up.
            guard pods.get("\(pod.namespace ?? "default")/\(pod.name)")?.uid == uid else {
                await teardown(uid: uid, namespace: namespace, podName: pod.name)
                return
            }
            running[uid] = (namespace, pod.name, ip)
            backoff[uid] = nil
            startServer(pod, uid: uid, namespace: namespace)
            await setRunning(pod, address: ip)
        } catch {
            let attempt = (backoff[uid]?.attempt ?? 0) + 1
            let delay = Backoff(base: .seconds(1), cap: .seconds(30)).delay(attempt: attempt)
            backoff[uid] = (attempt, ContinuousClock.now + delay)
            await events.record(pod, .warning, reason: "FailedCreatePodSandBox", message: "Failed to create pod sandbox: \(error)")
            _ = try? await cni("del", namespace: namespace, pod: pod, uid: uid)
            _ = try? await Shell.run(["ip", "netns", "del", namespace])
            sandboxes[uid] = nil
        }
    }

    private func setRunning(_ pod: Pod, address: String) async {
        let now = ISO8601DateFormatter().string(from: Date())
        do {
            _ = try await kube.patch(Pod.self, namespace: pod.namespace, name: pod.name, subresource: "status", .merge, [
                "status": ["phase": "Running", "podIP": .string(address), "podIPs": [["ip": .string(address)]], "hostIP": .string(node.primaryIP),
                           "startTime": .string(now),
                           "conditions": [["type": "Ready", "status": "True", "lastTransitionTime": .string(now)]]],
            ])
        } catch {
            logger.warning("cannot update pod status", metadata: ["pod": "\(pod.name)", "error": "\(error)"])
        }
    }

    /// The pod's "container": `vpcnet-sim serve` on every declared containerPort, inside its namespace.
    private func startServer(_ pod: Pod, uid: String, namespace: String) {
        guard let podServer else { return }
        let ports = (pod.raw.value(at: "spec.containers")?.arrayValue ?? []).flatMap { $0["ports"]?.arrayValue ?? [] }
        let flags = ports.flatMap { port -> [String] in
            guard case .int(let number)? = port["containerPort"] else { return [] }
            return [(port["protocol"]?.stringValue ?? "TCP") == "UDP" ? "--udp" : "--tcp", String(number)]
        }
        guard !flags.isEmpty else { return }
        let server = ChildProcess(name: "pod \(pod.name)",
                                  arguments: ["/usr/bin/env", "ip", "netns", "exec", namespace, podServer.executable, "serve",
                                              "--name", pod.name, "--owner", podServer.owner] + flags,
                                  logPath: "\(node.directory)/pod-\(uid).log", logger: logger)
        servers[uid] = server
        Task { await server.supervise() }
    }

    private func teardown(uid: String, namespace: String, podName: String) async {
        if let server = servers.removeValue(forKey: uid) { await server.stop(grace: .seconds(1)) }
        guard !namespace.isEmpty else { return }
        var pod = sandboxes.removeValue(forKey: uid) ?? Pod(name: podName, namespace: "default")
        pod.raw["metadata"]?["uid"] = .string(uid)
        _ = try? await cni("del", namespace: namespace, pod: pod, uid: uid)
        _ = try? await Shell.run(["ip", "netns", "del", namespace])
    }

    /// libcni, as the container runtime calls it, from inside the node's namespace, with the
    /// runtimeConfig a CRI runtime passes (on DEL too, as containerd does).
    private func cni(_ command: String, namespace: String, pod: Pod, uid: String) async throws -> String {
        let capabilities = try SimRuntimeConfig.capabilityArgs(for: pod).map { ["CNITOOL_CAPABILITY_ARGS=\($0)"] } ?? []
        return try await Shell.run(["ip", "netns", "exec", node.namespace, "env", "CNI_PATH=\(node.cniBinDirectory)",
                                    "CNITOOL_CACHE_DIR=\(node.directory)/cni/cache", "K8S_POD_NAMESPACE=\(pod.namespace ?? "default")",
                                    "K8S_POD_NAME=\(pod.name)", "K8S_POD_UID=\(uid)"] + capabilities
                                    + [cnitool, command, node.conflist, SimNames.path(namespace), uid])
    }

    /// Pod UID → (namespace, address), for `status`.
    public var runningPods: [String: (namespace: String, podName: String, address: String)] { running }
}
