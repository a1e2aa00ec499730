import ArgumentParser
import Foundation
import IPAMClient
import Kubernetes
import VPCNetContracts
import VPCNetCore
import VPCNetCtl
import VPCNetSettings

/// vpcnetctl: an operator's view of vpcnet. Thin: the VPCNetCtl module does the work.
@main
struct VPCNetCtlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vpcnetctl",
        abstract: "Inspect, size and install vpcnet.",
        subcommands: [Status.self, MaxPods.self, IAMPolicy.self, Manifests.self, Diagnose.self, Ready.self, Settings.self])
}

/// Prints a UsageError's text alone (no usage dump) and exits 1.
func failing(_ body: () async throws -> Void) async throws {
    do { try await body() } catch let error as UsageError {
        FileHandle.standardError.write(Data("vpcnetctl: \(error.description)\n".utf8))
        throw ExitCode.failure
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "This node's ENIs, addresses and allocations, from the daemon's introspection endpoint (run it on the node or in its vpcnet-daemon pod).")

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

    @Option(name: [.short, .customLong("output")], help: "table or json.") var output: Format = .table
    @Option(help: "The daemon's introspection endpoint.") var endpoint = StatusReport.defaultEndpoint

    func run() async throws {
        try await failing {
            let (raw, status) = try await StatusReport.fetch(endpoint: endpoint)
            print(output == .json ? String(decoding: raw, as: UTF8.self) : StatusReport.table(status))
        }
    }
}

struct MaxPods: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "max-pods",
        abstract: "Pods a node of INSTANCE_TYPE runs with vpcnet: its k8s-vpcnet/pod-capacity label, and the kubelet --max-pods to set.")

    @Argument(help: "An EC2 instance type, e.g. m5.large.") var instanceType: String
    @Flag(inversion: .prefixedNo,
          help: "With /28 prefixes (the controller's prefix-delegation on) or without (off); neither: the controller's default (auto: on for Nitro and bare-metal types).")
    var prefixDelegation: Bool?
    @Option(help: "The controller's max-pods (or the node's k8s-vpcnet/max-pods label).") var maxPods = PodSizing.defaultMaxPods
    @Option(help: "The controller's max-enis (0: the type's limit).") var maxEnis = 0
    @Flag(help: "Show the arithmetic.") var explain = false

    func run() async throws {
        let sizing = PodSizing(maxPods: maxPods, maxENIs: maxEnis == 0 ? nil : maxEnis,
                               prefixDelegation: prefixDelegation.map { (on: Bool) -> PodSizing.PrefixDelegation in on ? .on : .off } ?? .default)
        try await failing {
            print(explain ? try MaxPodsReport.explain(instanceType: instanceType, sizing: sizing)
                          : try MaxPodsReport.render(instanceType: instanceType, sizing: sizing))
        }
    }
}

struct IAMPolicy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iam-policy", abstract: "The IAM policy the eni-controller needs (deploy/iam-policy.json), scoped to a cluster.")

    @Option(help: "The cluster name the controller is given; without it the policy keeps the CLUSTER_NAME placeholder.")
    var clusterName: String?

    func run() async throws {
        try await failing { print(try DeployRenderer.iamPolicy(clusterName: clusterName), terminator: "") }
    }
}

struct Manifests: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The Kubernetes manifests (deploy/vpcnet.yaml) for an image tag and a cluster.")

    @Option(help: "The image tag to run.") var imageTag: String
    @Option(help: "The image repository.") var image = "ghcr.io/k8s-vpcnet/vpcnet"
    @Option(help: "The cluster name (written into the vpcnet-config ConfigMap).") var clusterName: String?

    func run() async throws {
        try await failing { print(try DeployRenderer.manifests(repository: image, tag: imageTag, clusterName: clusterName), terminator: "") }
    }
}

struct Diagnose: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Collect what a bug report needs from this node (status, record, routes, rules, iptables, sysctls, CNI files, state, Events) into a .tar.gz.")

    @Option(name: [.short, .customLong("output")], help: "Where to write the tarball; - for standard output.") var output = "-"
    @Option(help: "The daemon's introspection endpoint.") var endpoint = StatusReport.defaultEndpoint
    @Option(help: "This node's name (default: NODE_NAME, else the daemon's).") var node: String?
    @Option(help: "kubeconfig for the Node and its Events (default: KUBECONFIG, then the in-cluster service account).") var kubeconfig: String?
    @Option(help: "The daemon's state directory.") var stateDir = WellKnown.Paths.stateDirectory
    @Option(help: "The daemon's IPAM socket (its directory holds the allocations).") var socket = WellKnown.Paths.ipamSocket
    @Option(help: "The CNI configuration directory.") var cniConfDir = WellKnown.Paths.cniConfDirectory
    @Option(help: "Collect the kernel state of this network namespace (a simulated node).") var netns: String?

    func run() async throws {
        try await failing {
            if output == "-" && isatty(STDOUT_FILENO) == 1 {
                throw UsageError("standard output is a terminal; redirect it (vpcnetctl diagnose > diagnose.tar.gz) or use --output FILE")
            }
            let environment = ProcessInfo.processInfo.environment
            var diagnose = VPCNetCtl.Diagnose()
            diagnose.endpoint = endpoint
            diagnose.nodeName = node ?? environment["NODE_NAME"]
            diagnose.stateDirectory = stateDir
            diagnose.socketPath = socket
            diagnose.cniConfDirectory = cniConfDir
            diagnose.namespacePath = netns
            if let connection = try? KubeConnection.resolve(kubeconfig: kubeconfig, environment: environment) {
                diagnose.kube = try? KubeClient(connection: connection, userAgent: "vpcnetctl")
            }
            let directory = FileManager.default.temporaryDirectory.appending(path: "vpcnet-diagnose-\(getpid())").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let summary = await diagnose.collect(into: directory)
            try? await diagnose.kube?.shutdown()
            let tar = Process()
            tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            tar.arguments = ["tar", "-czf", output, "-C", directory, "."]
            try tar.run()
            tar.waitUntilExit()
            guard tar.terminationStatus == 0 else { throw UsageError("tar failed (\(tar.terminationStatus))") }
            FileHandle.standardError.write(Data((summary + [output == "-" ? "" : "wrote \(output)"]).joined(separator: "\n").utf8 + [10]))
        }
    }
}

struct Ready: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when the IPAM service answers its gRPC health check as SERVING (the daemon's readiness probe).")

    @Option(help: "The IPAM service's socket.") var socket = WellKnown.Paths.ipamSocket
    @Option(help: "Milliseconds to wait for the answer.") var timeout = 2000
    @Option(help: "Also require this file, which the daemon in this pod writes once its pre-flight checks pass (VPCNET_PREFLIGHT_FILE).")
    var preflightFile: String?

    func run() async throws {
        try await failing {
            if let preflightFile, !FileManager.default.fileExists(atPath: preflightFile) {
                throw UsageError("the daemon in this pod has not passed its pre-flight checks (no \(preflightFile))")
            }
            let status: String
            do {
                let serving = try IPAMClient(socketPath: socket, timeoutMilliseconds: timeout).health()
                if serving == .serving { return }
                status = "\(serving)"
            } catch {
                status = "\(error)"
            }
            throw UsageError("the IPAM service at \(socket) is not serving: \(status)")
        }
    }
}

/// The settings each component reads from flags, VPCNET_* variables and its ConfigMap key, as
/// JSON: what scripts/gen-config-reference builds docs/configuration.md from.
struct Settings: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The components' settings as JSON (for the generated reference).",
                                                    shouldDisplay: false)

    func run() throws {
        func entries<C>(_ table: SettingTable<C>) -> [[String: String]] {
            table.settings.map { setting in
                ["component": table.component, "name": setting.name, "environment": setting.environmentName, "help": table.help(setting.name),
                 "default": table.defaultText(setting) ?? ""]
            }
        }
        let all = entries(ControllerSettings.table) + entries(DaemonSettings.table)
        let data = try JSONSerialization.data(withJSONObject: all, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
