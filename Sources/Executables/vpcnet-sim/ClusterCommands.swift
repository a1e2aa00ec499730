import ArgumentParser
import CommandSupport
import Foundation
import Kubernetes
import Logging
import VPCNetCore
import ClusterSim

/// Options every cluster command shares.
struct ClusterOptions: ParsableArguments {
    @Option(help: "The cluster's state directory (kubeconfig, logs, per-node files; root-only). Several clusters can run from different directories.")
    var stateDir = "/run/vpcnet-sim"

    var stateDirectory: String { URL(fileURLWithPath: stateDir).standardizedFileURL.path }

    func requireRoot() throws {
        guard getuid() == 0 else { throw ValidationError("the simulated cluster creates network namespaces: run it as root") }
    }
}

/// Where the vpcnet executables and cnitool are: next to this one, and `.build/cnitool`.
enum Executables {
    static var directory: String { URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path }
    static var sim: String { directory + "/vpcnet-sim" }
    static var cnitool: String {
        let candidates = [directory + "/cnitool", directory + "/../../cnitool", directory + "/../cnitool"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
    }
}

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "up", abstract: "Start a simulated cluster in the background; returns when its nodes are Ready.")

    @OptionGroup var options: ClusterOptions
    @Option(help: "Number of nodes.") var nodes = 3
    @Option(help: "EC2 instance type of the nodes (sets their ENI and address limits).") var instanceType = "m5.large"
    @Option(help: "Availability zones, comma-separated; nodes are spread over them.") var zones = "us-east-1a,us-east-1b"
    @Option(help: "Milliseconds an ENI attachment takes.") var attachDelayMs = 500
    @Option(help: "Latency of EC2 calls in milliseconds, ACTION=MS,… (* for every action without its own), e.g. '*=100,AttachNetworkInterface=700'.")
    var ec2LatencyMs = ""
    @Option(help: "Milliseconds after an attachment completes before the ENI's device appears in the instance.") var hotplugDelayMs = 0
    @Option(help: "Extra vpcnet-daemon arguments for every node, space-separated, e.g. --daemon-args='--metadata-access allowed'")
    var daemonArgs = ""
    @Option(help: "The eni-controller's prefix-delegation setting: auto, on or off.") var prefixDelegation = PodSizing.PrefixDelegation.default.rawValue

    func validate() throws {
        guard PodSizing.PrefixDelegation(rawValue: prefixDelegation) != nil else { throw ValidationError("--prefix-delegation must be auto, on or off") }
        guard (1...20).contains(nodes) else { throw ValidationError("--nodes must be 1…20") }
        guard InstanceTypeLimits.forType(instanceType) != nil else { throw ValidationError("unknown instance type \(instanceType)") }
        guard attachDelayMs >= 0, hotplugDelayMs >= 0 else { throw ValidationError("delays cannot be negative") }
        _ = try latencies()
    }

    /// `--ec2-latency-ms`, by action.
    func latencies() throws -> [String: Int] {
        var latencies: [String: Int] = [:]
        for entry in ec2LatencyMs.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, let ms = Int(parts[1]), (0...600_000).contains(ms) else {
                throw ValidationError("--ec2-latency-ms: expected ACTION=MS (0…600000), got \"\(entry)\"")
            }
            latencies[parts[0]] = ms
        }
        return latencies
    }

    func run() async throws {
        try options.requireRoot()
        let state = try await ClusterControl.up(spec: spec(), simExecutable: Executables.sim) { print("  \($0)") }
        print(Summary.text(state))
    }

    func spec() -> ClusterSpec {
        var spec = ClusterSpec(stateDirectory: options.stateDirectory, binDirectory: Executables.directory, cnitool: Executables.cnitool)
        spec.nodes = nodes
        spec.instanceType = instanceType
        spec.zones = zones.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        spec.attachDelayMilliseconds = attachDelayMs
        spec.ec2LatencyMilliseconds = (try? latencies()) ?? [:]
        spec.hotplugDelayMilliseconds = hotplugDelayMs
        spec.daemonArguments = daemonArgs.split(separator: " ").map(String.init)
        spec.prefixDelegation = prefixDelegation
        return spec
    }
}

/// The supervisor `up` starts in the background.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a cluster in the foreground (what `up` starts).",
                                                    shouldDisplay: false)
    @Option(help: "The spec file `up` wrote.") var spec: String

    func run() async throws {
        let logger = try Observability.bootstrapLogging(level: nil, environment: ProcessInfo.processInfo.environment, label: "vpcnet.sim")
        // It runs, as root, the executables the spec names: only from a root-only directory.
        try AtomicFile.requirePrivateDirectory(AtomicFile.directory(of: spec))
        let clusterSpec = try JSONDecoder().decode(ClusterSpec.self, from: Data(contentsOf: URL(fileURLWithPath: spec)))
        let cluster = SimCluster(spec: clusterSpec, logger: logger)
        let main = Task { try await cluster.run() }
        onTermination { main.cancel() }
        try await main.value
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Nodes, ENIs, pods and addresses of a running cluster.")
    @OptionGroup var options: ClusterOptions

    func run() async throws {
        let state = try loadState(options)
        let kube = try ClusterControl.client(state)
        defer { Task { try? await kube.shutdown() } }
        print(Summary.text(state))
        let enis = try await ClusterDemo.enis(kube)
        let nodes = try await kube.list(Node.self).items
        print("\nNODES")
        for node in nodes.sorted(by: { $0.name < $1.name }) {
            let sim = state.nodes.first { $0.name == node.name }
            let taints = node.taints.map(\.description).joined(separator: ",")
            print("  \(node.name)  \(node.isReady ? "Ready" : "NotReady")  \(sim?.zone ?? "")  \(sim?.instanceID ?? "")  \(recordSummary(node))\(taints.isEmpty ? "" : "  taints: \(taints)")")
        }
        let pods = try await kube.list(Pod.self).items
        print("\nPODS (\(pods.count))")
        print(ClusterDemo.table(pods.sorted { ($0.namespace ?? "", $0.name) < ($1.namespace ?? "", $1.name) }, state: state, enis: enis)
            .split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    }

    func recordSummary(_ node: Node) -> String {
        guard let text = node.annotations[WellKnown.Annotations.nodeNetwork], let record = try? NodeNetworkRecord(json: text) else {
            return "no ENIs yet"
        }
        return record.podENIs.map { "\($0.id) (eth\($0.deviceIndex), \($0.podAddresses.count) addresses\($0.ipv4Prefixes.isEmpty ? "" : " in \($0.ipv4Prefixes.count) /28 prefixes"))" }.joined(separator: ", ")
    }
}

struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Run a command inside a pod's network namespace.",
                                                    discussion: "vpcnet-sim exec demo-3 -- ping -c1 198.51.100.10")
    @OptionGroup var options: ClusterOptions
    @Argument(help: "NAME or NAMESPACE/NAME") var pod: String
    @Argument(parsing: .postTerminator, help: "The command.") var command: [String]

    func run() async throws {
        try options.requireRoot()
        guard !command.isEmpty else { throw ValidationError("give a command after --") }
        let state = try loadState(options)
        let kube = try ClusterControl.client(state)
        let (_, namespace) = try await ClusterControl.podNamespace(pod, state: state, kube: kube)
        try? await kube.shutdown()
        let arguments = ["ip", "netns", "exec", namespace] + command
        let cArguments = arguments.map { strdup($0) } + [nil]
        execvp("ip", cArguments)
        throw ValidationError("cannot exec ip: \(String(cString: strerror(errno)))")
    }
}

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a component's log: supervisor, eni-controller-1, vpcnet-daemon-NODE, …")
    @OptionGroup var options: ClusterOptions
    @Argument(help: "The component; without it, the list.") var component: String?

    func run() async throws {
        let directory = options.stateDirectory + "/logs"
        let available = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".log") }
            .map { String($0.dropLast(4)) }.sorted()
        guard let component else {
            print(available.joined(separator: "\n"))
            return
        }
        let matches = available.filter { $0 == component || $0.hasPrefix(component) }
        guard matches.count == 1 else {
            throw ValidationError(matches.isEmpty ? "no log \(component); have: \(available.joined(separator: ", "))"
                                                  : "\(component) is ambiguous: \(matches.joined(separator: ", "))")
        }
        FileHandle.standardOutput.write(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(matches[0]).log")))
    }
}

struct DownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "down", abstract: "Stop a cluster and remove every namespace, process and file it created (also after a crash).")
    @OptionGroup var options: ClusterOptions

    func run() async throws {
        try options.requireRoot()
        let done = await ClusterControl.down(stateDirectory: options.stateDirectory)
        print(done.isEmpty ? "nothing to remove" : done.joined(separator: "\n"))
    }
}

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Up with 3 nodes in 2 zones, 40 pods, their addresses and a connectivity matrix, then down.")
    @OptionGroup var options: ClusterOptions
    @Option(help: "Pods to create.") var pods = 40
    @Flag(help: "Leave the cluster running afterwards.") var keep = false

    func run() async throws {
        try options.requireRoot()
        _ = await ClusterControl.down(stateDirectory: options.stateDirectory)
        var spec = ClusterSpec(stateDirectory: options.stateDirectory, binDirectory: Executables.directory, cnitool: Executables.cnitool)
        spec.nodes = 3
        spec.zones = ["us-east-1a", "us-east-1b"]
        print("Starting a simulated VPC with 3 m5.large nodes in 2 zones (EC2 and Kubernetes simulated, vpcnet real)…")
        var failed = false
        do {
            let state = try await ClusterControl.up(spec: spec, simExecutable: Executables.sim) { print("  \($0)") }
            let kube = try ClusterControl.client(state)
            print("\nCreating \(pods) pods through the Kubernetes API…")
            try await ClusterDemo.createPods(kube, count: pods)
            let services = try await ClusterDemo.createServices(kube)
            let running = try await ClusterDemo.waitRunning(kube, count: pods) { print("  \($0) of \(pods) running") }
            print("\n" + ClusterDemo.table(running, state: state, enis: try await ClusterDemo.enis(kube)))
            print("\nConnectivity:")
            let checks = await ClusterDemo.connectivity(running, state: state, services: services)
            print(ClusterDemo.matrix(checks))
            failed = checks.contains { !$0.passed }
            try? await kube.shutdown()
            print("\nExplore: kubectl --kubeconfig \(state.kubeconfig) get pods -o wide")
            print("         vpcnet-sim exec --state-dir \(options.stateDirectory) demo-0 -- ip route")
        } catch {
            print("demo failed: \(error)")
            failed = true
        }
        if !keep {
            print("\nTearing down (use --keep to leave it running)…")
            _ = await ClusterControl.down(stateDirectory: options.stateDirectory)
        }
        if failed { throw ExitCode.failure }
    }
}

func loadState(_ options: ClusterOptions) throws -> ClusterState {
    guard let state = try? ClusterState.load(options.stateDirectory), ClusterControl.isAlive(state.supervisorPID) else {
        throw ValidationError("no cluster runs from \(options.stateDirectory): vpcnet-sim up --state-dir \(options.stateDirectory)")
    }
    return state
}

enum Summary {
    static func text(_ state: ClusterState) -> String {
        """
        cluster ready: \(state.nodes.count) nodes
          kubectl --kubeconfig \(state.kubeconfig) get nodes
          API server \(state.apiServer) (in the VPC: http://\(state.controlPlane):6443)
          internet host \(state.internetHost)
        """
    }
}

struct AddNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add-node", abstract: "Launch one more node into a running cluster; returns when it is Ready.")
    @OptionGroup var options: ClusterOptions
    @Option(help: "Its availability zone (default: the next in turn).") var zone: String?

    func run() async throws {
        try options.requireRoot()
        let state = try loadState(options)
        let requests = ClusterRequests(stateDirectory: options.stateDirectory)
        let id = UUID().uuidString
        try requests.send(.init(id: id, action: "add-node", zone: zone))
        let answer = try await requests.answer(to: id, timeout: .seconds(120))
        guard let name = answer.node else { throw ValidationError(answer.error ?? "the node was not added") }
        let kube = try ClusterControl.client(state)
        defer { Task { try? await kube.shutdown() } }
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            if let node = try? await kube.get(Node.self, name: name), node.isReady, !node.hasTaint(WellKnown.Taints.noInterfaceConfigured) {
                print("\(name) ready")
                return
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw ValidationError("\(name) was launched but is not Ready after 3 minutes; see vpcnet-sim logs")
    }
}
