import AWSEC2
import ControllerRuntime
import EC2Sim
import Foundation
import Kubernetes
import KubeSim
import Logging
import NIOCore
import ServiceProxy
import Synchronization
import VPCNetCore

/// The whole system on one machine: the EC2 and Kubernetes simulators, the VPC fabric, the
/// instances as namespaces, two eni-controller replicas, a vpcnet-daemon inside every node, and a
/// scheduler and kubelets. Runs until cancelled, then removes everything it created.
public final class SimCluster: Sendable {
    public let spec: ClusterSpec
    let names: SimNames
    let logger: Logger
    let simulator: EC2Simulator
    private let children = Mutex<[ChildProcess]>([])
    fileprivate let kubelets = Mutex<[String: SimKubelet]>([:])
    private let stateLock = Mutex<ClusterState?>(nil)
    static let clusterName = "vpcnet-sim"

    public init(spec: ClusterSpec, logger: Logger) {
        self.spec = spec
        self.logger = logger
        names = SimNames(prefix: ClusterState.prefix(for: spec.stateDirectory))
        simulator = EC2Simulator(configuration: .init(attachDelay: .milliseconds(spec.attachDelayMilliseconds),
                                                      detachDelay: .milliseconds(spec.attachDelayMilliseconds),
                                                      latency: spec.ec2LatencyMilliseconds.mapValues { SimLatency(fixed: .milliseconds($0)) }))
    }

    var logDirectory: String { spec.stateDirectory + "/logs" }

    fileprivate func update(_ change: (inout ClusterState) -> Void) {
        stateLock.withLock { state in
            guard var current = state else { return }
            change(&current)
            try? current.save(spec.stateDirectory)
            state = current
        }
    }

    /// Brings the cluster up and runs it until the task is cancelled.
    public func run() async throws {
        try AtomicFile.makeDirectory(logDirectory, mode: 0o755)
        await VPCFabric.destroy(names: names)
        do {
            try await runCluster()
        } catch {
            update { $0.phase = "failed"; $0.message = "\(error)" }
            await tearDown()
            throw error
        }
        await tearDown()
    }

    /// The steps of a run, each acquiring what the next needs and registering how to let it go:
    /// whether a step fails or the run is cancelled, everything acquired so far is released, in
    /// reverse order, and every background task (the fabric following EC2, informers, scheduler,
    /// kubelets) ends with the run.
    private func runCluster() async throws {
        let teardown = Teardown()
        do {
            try await withThrowingDiscardingTaskGroup { background in
                let control = try await startControlPlane(teardown)
                update { $0.message = "creating the VPC" }
                // One /19 subnet per zone.
                let network = try await control.ec2.createSimulatedNetwork(
                    subnets: spec.zones.enumerated().map { index, zone in ("10.0.\(index * 32).0/19", zone) })
                try await control.ec2.admitClusterTraffic(groupID: network.groupID)
                let fabric = try await startFabric(network, background: &background)
                let vpc = try await serveInsideVPC(control, fabric: fabric, teardown: teardown)
                startControllers(control)
                let world = startScheduler(control, background: &background, teardown: teardown)
                let launcher = NodeLauncher(cluster: self, control: control, network: network, fabric: fabric, vpc: vpc, world: world)
                for index in 0..<spec.nodes {
                    update { $0.message = "launching node \(index + 1) of \(spec.nodes)" }
                    try await launcher.addNode(index: index, zone: spec.zones[index % spec.zones.count], background: &background)
                }
                try await waitForReadyNodes(world.nodes, kubeconfig: control.kubeconfig)
                // Run until cancelled (SIGTERM from `down`), serving requests from the other commands.
                await serveRequests(launcher, background: &background)
                update { $0.phase = "stopping"; $0.message = "stopping" }
                await teardown.run()
                background.cancelAll()
            }
        } catch {
            await teardown.run()
            throw error
        }
    }

    /// The simulators and the clients of them that the supervisor itself uses.
    struct ControlPlane: Sendable {
        var api: KubeAPI
        var ec2Server: EC2SimServer
        var kubeServer: KubeAPIServer
        var kubeconfig: String
        var ec2: EC2Client
        var kube: KubeClient
    }

    /// EC2 for the controllers (on the host), Kubernetes for everyone.
    private func startControlPlane(_ teardown: Teardown) async throws -> ControlPlane {
        let ec2Server = try await EC2SimServer.start(simulator, host: "127.0.0.1", port: 0)
        teardown.add { await ec2Server.stop() }
        let api = KubeAPI(store: KubeStore())
        let kubeServer = try await KubeAPIServer.start(api, host: "127.0.0.1", port: 0)
        teardown.add { await kubeServer.stop() }
        let kubeconfig = spec.stateDirectory + "/kubeconfig"
        try AtomicFile.write(kubeServer.kubeconfig(), to: kubeconfig, mode: 0o600)
        stateLock.withLock {
            $0 = ClusterState(prefix: names.prefix, supervisorPID: getpid(), kubeconfig: kubeconfig, apiServer: kubeServer.url.absoluteString,
                              ec2Endpoint: ec2Server.url.absoluteString, phase: "starting", message: "starting the control plane")
        }
        update { _ in }
        let http = AWSHTTPClient()
        teardown.add { try? await http.shutdown() }
        let kube = try KubeClient(connection: kubeServer.connection())
        teardown.add { try? await kube.shutdown() }
        try await KubernetesService.create(kube)
        try await CustomResources.install(kube)
        return ControlPlane(api: api, ec2Server: ec2Server, kubeServer: kubeServer, kubeconfig: kubeconfig, ec2: ec2Server.client(http: http),
                            kube: kube)
    }

    /// The VPC's namespaces, following every hardware change EC2 completes.
    private func startFabric(_ network: SimNetwork, background: inout ThrowingDiscardingTaskGroup<any Error>) async throws -> VPCFabric {
        let simulator = self.simulator
        let fabric = VPCFabric(names: names, subnets: { simulator.subnetCIDR($0) }, security: { simulator.securityView })
        try await fabric.create()
        let (events, sink) = AsyncStream.makeStream(of: SimEvent.self)
        simulator.addHook { sink.yield($0) }
        let hotplugDelay = Duration.milliseconds(spec.hotplugDelayMilliseconds)
        background.addTask { [logger] in
            // A device appears in the guest some time after EC2 reports `attached`; an ENI
            // detached meanwhile never appears.
            let unplugged = PendingPlugs()
            await withDiscardingTaskGroup { plugs in
                for await event in events {
                    if case .attached(let eni) = event, hotplugDelay > .zero {
                        unplugged.ids.withLock { _ = $0.insert(eni.id) }
                        plugs.addTask {
                            try? await Task.sleep(for: hotplugDelay)
                            guard unplugged.ids.withLock({ $0.remove(eni.id) }) != nil else { return }
                            if let failure = await fabric.apply(event) { logger.error("the fabric could not follow EC2", metadata: ["event": "\(event)", "error": "\(failure)"]) }
                        }
                        continue
                    }
                    if case .detached(let eni, _) = event { unplugged.ids.withLock { _ = $0.remove(eni.id) } }
                    if let failure = await fabric.apply(event) { logger.error("the fabric could not follow EC2", metadata: ["event": "\(event)", "error": "\(failure)"]) }
                }
            }
        }
        return fabric
    }

    /// Where the VPC's machines reach the control plane, and what instances ask the metadata service.
    final class InsideVPC: Sendable {
        let kubeconfig: String
        /// Each instance's type and zone, by instance ID.
        let instances = Mutex<[String: (type: String, zone: String)]>([:])

        init(kubeconfig: String) { self.kubeconfig = kubeconfig }
    }

    /// The Kubernetes API and EC2 inside the VPC (anything inside it that calls them; the
    /// controllers run on the host and use 127.0.0.1), and the metadata service.
    private func serveInsideVPC(_ control: ControlPlane, fabric: VPCFabric, teardown: Teardown) async throws -> InsideVPC {
        let routerPath = SimNames.path(names.router)
        let vpcKubeServer = try await KubeAPIServer.start(control.api, listeningSocket: try ListeningSocket.open(
            namespacePath: routerPath, address: VPCFabric.controlPlaneAddress, port: 6443))
        teardown.add { await vpcKubeServer.stop() }
        let vpcEC2Server = try await EC2SimServer.start(simulator, listeningSocket: try ListeningSocket.open(
            namespacePath: routerPath, address: VPCFabric.controlPlaneAddress, port: 8080))
        teardown.add { await vpcEC2Server.stop() }
        let inside = InsideVPC(kubeconfig: spec.stateDirectory + "/kubeconfig-vpc")
        try AtomicFile.write(vpcKubeServer.kubeconfig(), to: inside.kubeconfig, mode: 0o600)
        let simulator = self.simulator
        let metadata = try await MetadataService.start(
            listeningSocket: try ListeningSocket.open(namespacePath: routerPath, address: VPCFabric.metadataAddress, port: 80)) { source in
            guard let instance = await fabric.instance(withPrimaryAddress: source), let info = inside.instances.withLock({ $0[instance] }) else { return nil }
            return InstanceIdentity(instanceID: instance, instanceType: info.type, availabilityZone: info.zone, region: "us-east-1",
                                    enis: simulator.networkInterfaces.filter { $0.attachment?.instanceID == instance })
        }
        teardown.add { await metadata.stop() }
        return inside
    }

    /// Two leader-elected eni-controller replicas, on the host like a Deployment's pods would be.
    private func startControllers(_ control: ControlPlane) {
        for replica in 1...2 {
            startChild(ChildProcess(
                name: "eni-controller-\(replica)",
                arguments: [spec.binDirectory + "/eni-controller", "--cluster-name", Self.clusterName, "--kubeconfig", control.kubeconfig,
                            "--metrics-listen", "", "--identity", "eni-controller-\(replica)", "--lease-namespace", "kube-system",
                            "--prefix-delegation", spec.prefixDelegation],
                environment: ["AWS_ENDPOINT_URL_EC2": control.ec2Server.url.absoluteString, "AWS_REGION": "us-east-1",
                              "AWS_ACCESS_KEY_ID": EC2Simulator.testAccessKeyID, "AWS_SECRET_ACCESS_KEY": EC2Simulator.testSecretAccessKey,
                              "AWS_EC2_METADATA_DISABLED": "true"],
                logPath: "\(logDirectory)/eni-controller-\(replica).log", logger: logger))
        }
    }

    /// What the simulated control plane's components and the nodes' kubelets and service proxies watch.
    struct World: Sendable {
        var pods: Informer<Pod>
        var nodes: Informer<Node>
        var services: Informer<Service>
        var slices: Informer<EndpointSlice>
        var deployments: Informer<Deployment>
        var replicaSets: Informer<ReplicaSet>
        var daemonSets: Informer<DaemonSet>
    }

    /// The scheduler, the controllers (endpoint slices, Deployments, ReplicaSets, DaemonSets, the
    /// garbage collector's part they need) and the informers they, the kubelets and the service
    /// proxies share. The kubelets' pods are stopped (CNI DEL while the daemons still run)
    /// before anything else is let go.
    private func startScheduler(_ control: ControlPlane, background: inout ThrowingDiscardingTaskGroup<any Error>,
                                teardown: Teardown) -> World {
        let world = World(pods: Informer(client: control.kube, logger: logger), nodes: Informer(client: control.kube, logger: logger),
                          services: Informer(client: control.kube, logger: logger), slices: Informer(client: control.kube, logger: logger),
                          deployments: Informer(client: control.kube, logger: logger), replicaSets: Informer(client: control.kube, logger: logger),
                          daemonSets: Informer(client: control.kube, logger: logger))
        background.addTask { await world.pods.run { _ in } }
        background.addTask { await world.nodes.run { _ in } }
        background.addTask { await world.services.run { _ in } }
        background.addTask { await world.slices.run { _ in } }
        background.addTask { await world.deployments.run { _ in } }
        background.addTask { await world.replicaSets.run { _ in } }
        background.addTask { await world.daemonSets.run { _ in } }
        background.addTask { [logger] in await SimScheduler(kube: control.kube, pods: world.pods, nodes: world.nodes, logger: logger).run() }
        background.addTask { [logger] in
            await EndpointSliceController(kube: control.kube, services: world.services, slices: world.slices, pods: world.pods,
                                          nodes: world.nodes, logger: logger).run()
        }
        background.addTask { [logger] in
            await DeploymentController(kube: control.kube, deployments: world.deployments, replicaSets: world.replicaSets, logger: logger).run()
        }
        background.addTask { [logger] in await ReplicaSetController(kube: control.kube, replicaSets: world.replicaSets, pods: world.pods, logger: logger).run() }
        background.addTask { [logger] in
            await DaemonSetController(kube: control.kube, daemonSets: world.daemonSets, pods: world.pods, nodes: world.nodes, logger: logger).run()
        }
        background.addTask { [logger] in
            await GarbageCollector(kube: control.kube, pods: world.pods, replicaSets: world.replicaSets, daemonSets: world.daemonSets,
                                   deployments: world.deployments, logger: logger).run()
        }
        teardown.add { for kubelet in self.kubelets.withLock({ Array($0.values) }) { await kubelet.stopAll() } }
        return world
    }

    private func waitForReadyNodes(_ nodes: Informer<Node>, kubeconfig: String) async throws {
        update { $0.message = "waiting for the nodes to become Ready" }
        let total = spec.nodes
        while !Task.isCancelled {
            let ready = nodes.list().filter { $0.isReady && !$0.hasTaint(WellKnown.Taints.noInterfaceConfigured) }.count
            update { $0.message = "\(ready) of \(total) nodes ready" }
            if ready == total { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        update { $0.phase = "ready"; $0.message = "\(total) nodes ready" }
        logger.info("cluster ready", metadata: ["nodes": "\(total)", "kubeconfig": "\(kubeconfig)"])
    }

    /// `vpcnet-sim add-node` requests, until the run is cancelled.
    private func serveRequests(_ launcher: NodeLauncher, background: inout ThrowingDiscardingTaskGroup<any Error>) async {
        let requests = ClusterRequests(stateDirectory: spec.stateDirectory)
        var launched = spec.nodes
        while !Task.isCancelled {
            for request in requests.pending() {
                switch request.action {
                case "add-node":
                    do {
                        let zone = request.zone ?? spec.zones[launched % spec.zones.count]
                        let node = try await launcher.addNode(index: launched, zone: zone, background: &background)
                        launched += 1
                        requests.answer(request, ClusterRequests.Answer(node: node.name, error: nil))
                    } catch {
                        requests.answer(request, ClusterRequests.Answer(node: nil, error: "\(error)"))
                    }
                default:
                    requests.answer(request, ClusterRequests.Answer(node: nil, error: "unknown request \(request.action)"))
                }
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Adds one node: an instance, its namespace, Node, daemon and kubelet.
    struct NodeLauncher: Sendable {
        let cluster: SimCluster
        let control: ControlPlane
        let network: SimNetwork
        let fabric: VPCFabric
        let vpc: InsideVPC
        let world: World

        @discardableResult
        func addNode(index: Int, zone: String, background: inout ThrowingDiscardingTaskGroup<any Error>) async throws -> SimNode {
            guard let subnet = network.subnet(in: zone) else { throw CommandError(command: "add node", status: "unknown zone", output: zone) }
            let node = try await cluster.launch(index: index, zone: zone, subnet: subnet.id, group: network.groupID, ec2: control.ec2,
                                                kube: control.kube, fabric: fabric, vpcKubeconfig: vpc.kubeconfig)
            vpc.instances.withLock { $0[node.instanceID] = (node.instanceType, zone) }
            let kubelet = SimKubelet(kube: control.kube, node: node, names: cluster.names, cnitool: cluster.spec.cnitool, pods: world.pods,
                                     podServer: (cluster.spec.binDirectory + "/vpcnet-sim", cluster.spec.stateDirectory),
                                     logger: cluster.logger)
            cluster.kubelets.withLock { $0[node.name] = kubelet }
            background.addTask { await kubelet.run() }
            let proxy = SimServiceProxy(node: node, services: world.services, slices: world.slices, logger: cluster.logger)
            background.addTask { await proxy.run() }
            cluster.update { $0.nodes.append(node) }
            return node
        }
    }

    /// The simulated kubelet's `--max-pods`: the node's pod capacity (``PodSizing``, as the
    /// controller labels it) less the host-network pods that capacity counts — a real node runs
    /// kube-proxy and vpcnet-daemon as pods, the simulator runs the daemon as a process and no
    /// kube-proxy, so its scheduler must not hand their two slots to pods that need addresses.
    static func kubeletMaxPods(_ limits: InstanceTypeLimits?, prefixDelegation: String) -> Int {
        let sizing = PodSizing(prefixDelegation: PodSizing.PrefixDelegation(rawValue: prefixDelegation) ?? .default)
        guard let limits, let capacity = sizing.podCapacity(for: limits) else { return sizing.maxPods }
        return capacity - PodSizing.hostNetworkPods
    }

    /// One instance: EC2 RunInstances, its namespace, its Node (registered with the
    /// no-interface-configured taint, as `--register-with-taints` does), and its daemon.
    fileprivate func launch(index: Int, zone: String, subnet: String, group: String, ec2: EC2Client, kube: KubeClient,
                        fabric: VPCFabric, vpcKubeconfig: String) async throws -> SimNode {
        let instanceID = try await ec2.runSimulatedInstance(type: spec.instanceType, subnetID: subnet, groupID: group)
        guard let primary = simulator.networkInterfaces.first(where: { $0.attachment?.instanceID == instanceID && $0.attachment?.deviceIndex == 0 }) else {
            throw CommandError(command: "RunInstances", status: "no primary ENI", output: instanceID)
        }
        let namespace = names.node(index)
        try await fabric.addInstance(id: instanceID, namespace: namespace, primary: primary)
        let name = "ip-\(primary.primaryIP.description.replacingOccurrences(of: ".", with: "-")).ec2.internal"
        let limits = InstanceTypeLimits.forType(spec.instanceType)
        let node = SimNode(name: name, namespace: namespace, instanceID: instanceID, instanceType: spec.instanceType, zone: zone,
                           primaryIP: primary.primaryIP.description, directory: "\(spec.stateDirectory)/nodes/\(name)",
                           maxPods: Self.kubeletMaxPods(limits, prefixDelegation: spec.prefixDelegation))
        try AtomicFile.makeDirectory(node.cniConfDirectory, mode: 0o755)
        var object = Node(name: name)
        object.providerID = "aws:///\(zone)/\(instanceID)"
        object.raw["metadata"]?["labels"] = ["topology.kubernetes.io/zone": .string(zone), "node.kubernetes.io/instance-type": .string(spec.instanceType),
                                             "kubernetes.io/hostname": .string(name)]
        object.addTaint(WellKnown.Taints.noInterfaceConfigured)
        _ = try await kube.create(object)

        // The daemon, inside the node's namespace like a hostNetwork pod, reaching the API over the VPC.
        startChild(ChildProcess(
            name: "vpcnet-daemon-\(name)",
            arguments: ["/usr/bin/env", "ip", "netns", "exec", namespace, spec.binDirectory + "/vpcnet-daemon", "--node-name", name,
                        "--kubeconfig", vpcKubeconfig, "--state-dir", node.directory + "/state", "--socket", node.directory + "/run/ipam.sock",
                        "--cni-source-dirs", "\(spec.binDirectory):/usr/lib/cni", "--cni-bin-dir", node.cniBinDirectory,
                        "--cni-conf-dir", node.cniConfDirectory, "--metrics-listen", ""] + spec.daemonArguments,
            logPath: "\(logDirectory)/vpcnet-daemon-\(name).log", logger: logger))
        return node
    }

    private func startChild(_ child: ChildProcess) {
        children.withLock { $0.append(child) }
        Task { await child.supervise() }
    }

    /// Stops every process and removes every namespace (idempotent; `down` runs it again after a crash).
    private func tearDown() async {
        for child in children.withLock({ $0 }) { await child.stop() }
        await VPCFabric.destroy(names: names)
    }
}

/// What a run has acquired, let go in reverse order; each step runs once, however often `run` is called.
final class Teardown: Sendable {
    private let steps = Mutex<[@Sendable () async -> Void]>([])

    func add(_ step: @escaping @Sendable () async -> Void) { steps.withLock { $0.append(step) } }

    func run() async {
        while let step = steps.withLock({ $0.popLast() }) { await step() }
    }
}

/// ENIs attached in EC2 whose device has not appeared in the instance yet.
private final class PendingPlugs: Sendable {
    let ids = Mutex<Set<String>>([])
}
