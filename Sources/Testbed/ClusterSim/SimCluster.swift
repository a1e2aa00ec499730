import AWSEC2
import ControllerRuntime
import EC2Sim
import Foundation
import Kubernetes
import KubeSim
import Logging
import NIOCore
import Synchronization
import VPCNetCore

/// What `vpcnet-sim up` asks for.
public struct ClusterSpec: Codable, Sendable, Hashable {
    public var nodes = 3
    public var instanceType = "m5.large"
    public var zones = ["us-east-1a", "us-east-1b"]
    public var stateDirectory: String
    /// Where the built vpcnet executables are (`eni-controller`, `vpcnet-daemon`, `vpcnet-ipam`).
    public var binDirectory: String
    public var cnitool: String
    public var attachDelayMilliseconds = 500
    /// Extra `vpcnet-daemon` arguments for every node (e.g. `--metadata-access allowed`).
    public var daemonArguments: [String] = []

    public init(stateDirectory: String, binDirectory: String, cnitool: String) {
        self.stateDirectory = stateDirectory
        self.binDirectory = binDirectory
        self.cnitool = cnitool
    }
}

/// What a running cluster tells the other commands (`status`, `exec`, `down`), in `cluster.json`.
public struct ClusterState: Codable, Sendable {
    public var prefix: String
    public var supervisorPID: Int32
    public var kubeconfig: String
    public var apiServer: String
    public var ec2Endpoint: String
    public var controlPlane = VPCFabric.controlPlaneAddress
    public var internetHost = VPCFabric.internetHost
    public var nodes: [SimNode] = []
    /// `starting`, `ready`, `failed`, `stopping`.
    public var phase: String
    public var message: String

    public static func path(_ stateDirectory: String) -> String { stateDirectory + "/cluster.json" }

    public static func load(_ stateDirectory: String) throws -> ClusterState {
        try JSONDecoder().decode(ClusterState.self, from: Data(contentsOf: URL(fileURLWithPath: path(stateDirectory))))
    }

    func save(_ stateDirectory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(self)), to: Self.path(stateDirectory), mode: 0o644)
    }

    /// The namespace prefix for a state directory: clusters in different directories never collide.
    public static func prefix(for stateDirectory: String) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in URL(fileURLWithPath: stateDirectory).standardizedFileURL.path.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return "vs" + String(hash % 0xfffff, radix: 16)
    }
}

/// The whole system on one machine: the EC2 and Kubernetes simulators, the VPC fabric, the
/// instances as namespaces, two eni-controller replicas, a vpcnet-daemon inside every node, and a
/// scheduler and kubelets. Runs until cancelled, then removes everything it created.
public final class SimCluster: Sendable {
    public let spec: ClusterSpec
    let names: SimNames
    let logger: Logger
    let simulator: EC2Simulator
    private let children = Mutex<[ChildProcess]>([])
    private let kubelets = Mutex<[String: SimKubelet]>([:])
    private let stateLock = Mutex<ClusterState?>(nil)
    static let clusterName = "vpcnet-sim"

    public init(spec: ClusterSpec, logger: Logger) {
        self.spec = spec
        self.logger = logger
        names = SimNames(prefix: ClusterState.prefix(for: spec.stateDirectory))
        simulator = EC2Simulator(configuration: .init(attachDelay: .milliseconds(spec.attachDelayMilliseconds),
                                                      detachDelay: .milliseconds(spec.attachDelayMilliseconds)))
    }

    var logDirectory: String { spec.stateDirectory + "/logs" }

    private func update(_ change: (inout ClusterState) -> Void) {
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

    private func runCluster() async throws {
        // The control plane: EC2 for the controllers (on the host), Kubernetes for everyone.
        let ec2Server = try await EC2SimServer.start(simulator, host: "127.0.0.1", port: 0)
        let api = KubeAPI(store: KubeStore())
        let kubeServer = try await KubeAPIServer.start(api, host: "127.0.0.1", port: 0)
        let kubeconfig = spec.stateDirectory + "/kubeconfig"
        try AtomicFile.write(kubeServer.kubeconfig(), to: kubeconfig, mode: 0o600)
        stateLock.withLock {
            $0 = ClusterState(prefix: names.prefix, supervisorPID: getpid(), kubeconfig: kubeconfig, apiServer: kubeServer.url.absoluteString,
                              ec2Endpoint: ec2Server.url.absoluteString, phase: "starting", message: "creating the VPC")
        }
        update { _ in }
        let http = AWSHTTPClient()
        let ec2 = EC2Client(configuration: .init(region: "us-east-1", endpoint: ec2Server.url),
                            credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: EC2Simulator.testAccessKeyID,
                                                                                 secretAccessKey: EC2Simulator.testSecretAccessKey)),
                            httpClient: http, rateBudget: RateBudget())
        let kube = try KubeClient(connection: kubeServer.connection())

        // The VPC: one /19 subnet per zone.
        let vpc = try Self.value(await ec2.send(action: "CreateVpc", [("CidrBlock", "10.0.0.0/16")]), "vpcId")
        var subnets: [String: IPv4CIDR] = [:], subnetByZone: [String: String] = [:]
        for (index, zone) in spec.zones.enumerated() {
            let cidr = try IPv4CIDR(parsing: "10.0.\(index * 32).0/19")
            let id = try Self.value(await ec2.send(action: "CreateSubnet", [("VpcId", vpc), ("CidrBlock", cidr.description), ("AvailabilityZone", zone)]), "subnetId")
            subnets[id] = cidr
            subnetByZone[zone] = id
        }
        let group = try Self.value(await ec2.send(action: "CreateSecurityGroup", [("VpcId", vpc), ("GroupName", "nodes"), ("GroupDescription", "nodes")]), "groupId")

        let fabric = VPCFabric(names: names, subnets: subnets)
        try await fabric.create()
        let (events, sink) = AsyncStream.makeStream(of: SimEvent.self)
        simulator.addHook { sink.yield($0) }
        let fabricTask = Task {
            for await event in events {
                if let failure = await fabric.apply(event) { self.logger.error("the fabric could not follow EC2", metadata: ["event": "\(event)", "error": "\(failure)"]) }
            }
        }
        defer { fabricTask.cancel() }

        // The control plane inside the VPC, and the metadata service.
        let routerPath = SimNames.path(names.router)
        let vpcKubeServer = try await KubeAPIServer.start(api, listeningSocket: try ListeningSocket.open(
            namespacePath: routerPath, address: VPCFabric.controlPlaneAddress, port: 6443))
        // EC2 too, for anything inside the VPC that calls it (the controllers run on the host and use 127.0.0.1).
        let vpcEC2Server = try await EC2SimServer.start(simulator, listeningSocket: try ListeningSocket.open(
            namespacePath: routerPath, address: VPCFabric.controlPlaneAddress, port: 8080))
        let vpcKubeconfig = spec.stateDirectory + "/kubeconfig-vpc"
        try AtomicFile.write(vpcKubeServer.kubeconfig(), to: vpcKubeconfig, mode: 0o600)
        let simulator = self.simulator
        let instanceTypes = Mutex<[String: (type: String, zone: String)]>([:])
        let metadata = try await MetadataService.start(
            listeningSocket: try ListeningSocket.open(namespacePath: routerPath, address: VPCFabric.metadataAddress, port: 80)) { source in
            guard let instance = await fabric.instance(withPrimaryAddress: source), let info = instanceTypes.withLock({ $0[instance] }) else { return nil }
            return InstanceIdentity(instanceID: instance, instanceType: info.type, availabilityZone: info.zone, region: "us-east-1",
                                    enis: simulator.networkInterfaces.filter { $0.attachment?.instanceID == instance })
        }

        // Two leader-elected eni-controller replicas, on the host like a Deployment's pods would be.
        for replica in 1...2 {
            startChild(ChildProcess(
                name: "eni-controller-\(replica)",
                arguments: [spec.binDirectory + "/eni-controller", "--cluster-name", Self.clusterName, "--kubeconfig", kubeconfig,
                            "--metrics-listen", "", "--identity", "eni-controller-\(replica)", "--lease-namespace", "kube-system"],
                environment: ["AWS_ENDPOINT_URL_EC2": ec2Server.url.absoluteString, "AWS_REGION": "us-east-1",
                              "AWS_ACCESS_KEY_ID": EC2Simulator.testAccessKeyID, "AWS_SECRET_ACCESS_KEY": EC2Simulator.testSecretAccessKey,
                              "AWS_EC2_METADATA_DISABLED": "true"],
                logPath: "\(logDirectory)/eni-controller-\(replica).log", logger: logger))
        }

        let podInformer = Informer<Pod>(client: kube, logger: logger)
        let nodeInformer = Informer<Node>(client: kube, logger: logger)
        let informers = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await podInformer.run { _ in } }
                group.addTask { await nodeInformer.run { _ in } }
            }
        }
        defer { informers.cancel() }
        let scheduler = Task { await SimScheduler(kube: kube, pods: podInformer, nodes: nodeInformer, logger: logger).run() }
        defer { scheduler.cancel() }

        let kubeletTasks = Mutex<[Task<Void, Never>]>([])
        // Adds one node: an instance, its namespace, Node, daemon and kubelet.
        let addNode = { (index: Int, zone: String) async throws -> SimNode in
            guard let subnet = subnetByZone[zone] else { throw CommandError(command: "add node", status: "unknown zone", output: zone) }
            let node = try await self.launch(index: index, zone: zone, subnet: subnet, group: group, ec2: ec2, kube: kube, fabric: fabric,
                                             vpcKubeconfig: vpcKubeconfig)
            instanceTypes.withLock { $0[node.instanceID] = (node.instanceType, zone) }
            let kubelet = SimKubelet(kube: kube, node: node, names: self.names, cnitool: self.spec.cnitool, pods: podInformer, logger: self.logger)
            self.kubelets.withLock { $0[node.name] = kubelet }
            kubeletTasks.withLock { $0.append(Task { await kubelet.run() }) }
            self.update { $0.nodes.append(node) }
            return node
        }
        for index in 0..<spec.nodes {
            update { $0.message = "launching node \(index + 1) of \(spec.nodes)" }
            _ = try await addNode(index, spec.zones[index % spec.zones.count])
        }
        defer { for task in kubeletTasks.withLock({ $0 }) { task.cancel() } }

        update { $0.message = "waiting for the nodes to become Ready" }
        let total = spec.nodes
        while !Task.isCancelled {
            let ready = nodeInformer.list().filter { $0.isReady && !$0.hasTaint(WellKnown.Taints.noInterfaceConfigured) }.count
            update { $0.message = "\(ready) of \(total) nodes ready" }
            if ready == total { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        update { $0.phase = "ready"; $0.message = "\(total) nodes ready" }
        logger.info("cluster ready", metadata: ["nodes": "\(total)", "kubeconfig": "\(kubeconfig)"])

        // Run until cancelled (SIGTERM from `down`), serving requests from the other commands.
        let requests = ClusterRequests(stateDirectory: spec.stateDirectory)
        var launched = spec.nodes
        while !Task.isCancelled {
            for request in requests.pending() {
                switch request.action {
                case "add-node":
                    do {
                        let zone = request.zone ?? spec.zones[launched % spec.zones.count]
                        let node = try await addNode(launched, zone)
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
        update { $0.phase = "stopping"; $0.message = "stopping" }
        for kubelet in kubelets.withLock({ Array($0.values) }) { await kubelet.stopAll() }
        try? await metadata.close()
        try? await vpcKubeServer.stop()
        try? await vpcEC2Server.stop()
        try? await kubeServer.stop()
        try? await ec2Server.stop()
        try? await kube.shutdown()
        try? await http.shutdown()
    }

    /// One instance: EC2 RunInstances, its namespace, its Node (registered with the
    /// no-interface-configured taint, as `--register-with-taints` does), and its daemon.
    private func launch(index: Int, zone: String, subnet: String, group: String, ec2: EC2Client, kube: KubeClient,
                        fabric: VPCFabric, vpcKubeconfig: String) async throws -> SimNode {
        let body = try await ec2.send(action: "RunInstances", [("ImageId", "ami-12345678"), ("InstanceType", spec.instanceType), ("MinCount", "1"),
                                                       ("MaxCount", "1"), ("SubnetId", subnet), ("SecurityGroupId.1", group)])
        let instanceID = try Self.value(body, "instanceId")
        guard let primary = simulator.networkInterfaces.first(where: { $0.attachment?.instanceID == instanceID && $0.attachment?.deviceIndex == 0 }) else {
            throw CommandError(command: "RunInstances", status: "no primary ENI", output: instanceID)
        }
        let namespace = names.node(index)
        try await fabric.addInstance(id: instanceID, namespace: namespace, primary: primary)
        let name = "ip-\(primary.primaryIP.description.replacingOccurrences(of: ".", with: "-")).ec2.internal"
        let limits = InstanceTypeLimits.forType(spec.instanceType)
        let node = SimNode(name: name, namespace: namespace, instanceID: instanceID, instanceType: spec.instanceType, zone: zone,
                           primaryIP: primary.primaryIP.description, directory: "\(spec.stateDirectory)/nodes/\(name)",
                           maxPods: limits?.maxPods() ?? 110)
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

    static func value(_ body: [UInt8], _ element: String) throws -> String {
        let text = String(decoding: body, as: UTF8.self)
        guard let start = text.range(of: "<\(element)>"), let end = text.range(of: "</\(element)>", range: start.upperBound..<text.endIndex) else {
            throw CommandError(command: "EC2", status: "no \(element) in the answer", output: String(text.prefix(300)))
        }
        return String(text[start.upperBound..<end.lowerBound])
    }
}
