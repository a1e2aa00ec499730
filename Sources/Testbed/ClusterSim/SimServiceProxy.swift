import ControllerRuntime
import Foundation
import Kubernetes
import Logging
import ServiceProxy
import VPCNetCore

/// kube-proxy for one simulated node: renders the node's Services with ``KubeProxyRules`` and
/// writes them into the node's namespace the way kube-proxy does — `iptables-restore -w 5 -W
/// 100000 --noflush --counters` of its own chains, after ensuring its jumps at the top of the
/// built-in chains, with `route_localnet` on for localhost NodePorts — whenever what it would
/// write changes. Like kube-proxy it keeps canary chains and, when one is gone (someone flushed
/// the tables), ensures the jumps again and rewrites everything.
public actor SimServiceProxy {
    let node: SimNode
    let services: Informer<Service>
    let slices: Informer<EndpointSlice>
    let logger: Logger
    /// kube-proxy checks its canary every `--iptables-sync-period` (30 s); the simulator, every 2 s.
    static let canaryInterval = Duration.seconds(2)
    /// What the last successful sync wrote: a pass with the same ports writes nothing.
    private var written: [ServicePortInfo]?
    private var fullSyncDue = true

    public init(node: SimNode, services: Informer<Service>, slices: Informer<EndpointSlice>, logger: Logger) {
        self.node = node
        self.services = services
        self.slices = slices
        self.logger = logger
    }

    public func run() async {
        await services.waitForSync()
        await slices.waitForSync()
        var failures = 0
        var lastCanaryCheck = ContinuousClock.now
        while !Task.isCancelled {
            do {
                if ContinuousClock.now - lastCanaryCheck >= Self.canaryInterval {
                    lastCanaryCheck = .now
                    if try await !canaryPresent() { fullSyncDue = true }
                }
                try await sync()
                failures = 0
                try? await Task.sleep(for: .milliseconds(200))
            } catch {
                // An instance terminated takes its namespace, and its kube-proxy, with it.
                guard FileManager.default.fileExists(atPath: SimNames.path(node.namespace)) else {
                    logger.info("service proxy stops: the node's namespace is gone", metadata: ["node": "\(node.name)"])
                    return
                }
                failures += 1
                fullSyncDue = true
                logger.warning("service proxy sync failed", metadata: ["node": "\(node.name)", "error": "\(error)"])
                try? await Task.sleep(for: Backoff(base: .milliseconds(200), cap: .seconds(10)).delay(attempt: failures))
            }
        }
    }

    func sync() async throws {
        let rules = KubeProxyRules(nodeName: node.name)
        let ports = ServicePortInfo.from(services: services.list(), slices: slices.list(), nodeName: node.name)
        guard fullSyncDue || ports != written else { return }
        let restore = rules.render(ports, existingNATChains: try await natChains())
        if fullSyncDue {
            try await Shell.inNamespace(node.namespace, ["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"])
            try await ensureJumps()
        }
        try await Shell.inNamespace(node.namespace, ["iptables-restore", "-w", "5", "-W", "100000", "--noflush", "--counters"], input: restore)
        if fullSyncDue { try await createCanaries() }
        written = ports
        fullSyncDue = false
    }

    /// `EnsureChain` and `EnsureRule(Prepend, …)` for each jump: checked with `-C`, inserted with `-I`.
    private func ensureJumps() async throws {
        for target in KubeProxyRules.jumpTargets.sorted(by: { $0.joined() < $1.joined() }) {
            _ = try? await iptables(["-t", target[0], "-N", target[1]])
        }
        for jump in KubeProxyRules.jumps {
            if (try? await iptables(["-t", jump.table, "-C", jump.chain] + jump.arguments)) == nil {
                try await iptables(["-t", jump.table, "-I", jump.chain] + jump.arguments)
            }
        }
    }

    private func createCanaries() async throws {
        for table in ["mangle", "nat", "filter"] { _ = try? await iptables(["-t", table, "-N", KubeProxyRules.canaryChain]) }
    }

    private func canaryPresent() async throws -> Bool {
        (try? await iptables(["-t", "mangle", "-S", KubeProxyRules.canaryChain])) != nil
    }

    /// The nat table's chains, from `iptables-save -t nat`, for deleting stale service chains.
    private func natChains() async throws -> Set<String> {
        let saved = try await Shell.inNamespace(node.namespace, ["iptables-save", "-t", "nat"])
        return Set(saved.split(separator: "\n").compactMap { line in
            line.hasPrefix(":") ? line.dropFirst().split(separator: " ").first.map(String.init) : nil
        })
    }

    @discardableResult
    private func iptables(_ arguments: [String]) async throws -> String {
        try await Shell.inNamespace(node.namespace, ["iptables", "-w", "5", "-W", "100000"] + arguments)
    }
}
