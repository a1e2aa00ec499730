import ControllerRuntime
import Foundation
import HostNetwork
import Kubernetes
import Logging
import Metrics
import Synchronization
import VPCNetContracts
import VPCNetCore

/// What the node agent needs from the IPAM side of the daemon.
public protocol NodeAgentDelegate: Sendable {
    /// The host is configured for `record`; the IPAM may hand out the secondary addresses of the
    /// `usable` ENIs (those whose interfaces are present), and keeps the others' allocations.
    func datapathConfigured(for record: NodeNetworkRecord, usable: Set<NetworkInterfaceID>) async
    /// Whether the IPAM service answers on its socket, asked the way the plugin would ask.
    func ipamServing() async -> Bool
}

public struct NodeAgentSettings: Sendable {
    public var nodeName: String
    /// A pass runs on every change of the Node and at least this often (repairing the host).
    public var resyncPeriod: Duration = .seconds(30)
    /// How long an attached ENI's interface may take to appear before the node goes ahead
    /// without it (with a Warning Event).
    public var hotplugTimeout: Duration = .seconds(60)
    public var retry = Backoff(base: .milliseconds(250), cap: .seconds(30))
    /// How often the interfaces are looked for while an attached ENI's device has not appeared
    /// (until `hotplugTimeout`): a local link dump, no API call, and a device seen late by the
    /// growing `retry` would hold the node's pods back by seconds.
    public var hotplugPoll: Duration = .milliseconds(250)
    public var network: CNINetworkConfiguration

    public init(nodeName: String, network: CNINetworkConfiguration) {
        self.nodeName = nodeName
        self.network = network
    }
}

/// The daemon's node loop: watches its own Node, makes the host match the node network record
/// (``HostDatapath``), installs the CNI plugins, and, once the host is configured and the IPAM
/// answers, writes the conflist and removes the `no-interface-configured` taint. Level-triggered:
/// every pass starts from the Node and the kernel as they are, so a crash anywhere is harmless.
public final class NodeAgent: Sendable {
    let kube: KubeClient
    let datapath: HostDatapath
    let installer: CNIInstaller
    let delegate: any NodeAgentDelegate
    let settings: NodeAgentSettings
    let informer: Informer<Node>
    let events: EventRecorder
    let logger: Logger
    let trigger = Trigger()
    private let progress = LockedProgress()

    public init(kube: KubeClient, datapath: HostDatapath, installer: CNIInstaller, delegate: any NodeAgentDelegate,
                settings: NodeAgentSettings, logger: Logger = Logger(label: "vpcnet.daemon.node")) {
        self.kube = kube
        self.datapath = datapath
        self.installer = installer
        self.delegate = delegate
        self.settings = settings
        self.logger = logger
        informer = Informer<Node>(client: kube, fieldSelector: "metadata.name=\(settings.nodeName)", logger: logger)
        events = EventRecorder(client: kube, component: "vpcnet-daemon", logger: logger)
    }

    /// Whether the last pass left the node fully ready (conflist written, taint gone).
    public var isReady: Bool { progress.ready }

    /// Runs until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.informer.run { _ in self.trigger.fire() } }
            group.addTask {
                await self.informer.waitForSync()
                var failures = 0
                while !Task.isCancelled {
                    let next: Duration
                    switch await self.pass() {
                    case .settled:
                        failures = 0
                        next = self.settings.resyncPeriod
                    case .waitingForInterfaces:
                        next = self.settings.hotplugPoll
                    case .retry:
                        failures += 1
                        next = self.settings.retry.delay(attempt: failures)
                    }
                    await self.trigger.wait(atMost: next)
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// The node network record the host was last configured for.
    public var record: NodeNetworkRecord? { progress.lastRecord?.record }

    /// What the last pass found, for the introspection endpoint; nil before the first.
    public var lastPass: PassReport? { progress.lastPass }

    /// How many passes have finished: what a test waits on to know the agent looked and did nothing.
    public var passCount: Int { progress.passes }

    /// When to look again after a pass.
    enum Next { case settled, waitingForInterfaces, retry }

    /// One reconcile pass, measured and remembered. `settled` when the node is fully ready or
    /// waiting on others (the eni-controller), `waitingForInterfaces` while attached ENIs have no
    /// device yet, `retry` when it should be retried soon.
    func pass() async -> Next {
        let started = ContinuousClock.now
        let outcome = await reconcile()
        let duration = ContinuousClock.now - started
        Metrics.Timer(label: "vpcnet_daemon_reconcile_duration_seconds", preferredDisplayUnit: .seconds).record(duration: duration)
        Counter(label: "vpcnet_daemon_reconciles_total", dimensions: [("result", outcome.result)]).increment()
        if case .failed = outcome { progress.ready = false }
        progress.record(PassReport(finishedAt: Date(), durationSeconds: Double(duration.milliseconds) / 1000, result: outcome.result,
                                   detail: outcome.detail))
        switch outcome {
        case .ready: return .settled
        case .waiting(_, .onChange): return .settled
        case .waiting(_, .forInterfaces): return .waitingForInterfaces
        case .waiting(_, .soon): return .retry
        default: return .retry
        }
    }

    private func reconcile() async -> PassOutcome {
        guard let node = informer.get(settings.nodeName) else {
            logger.info("waiting for the Node object", metadata: ["node": "\(settings.nodeName)"])
            return .waiting("no Node object named \(settings.nodeName) yet", again: .onChange)
        }
        guard let record = currentRecord(node) else {
            // The plugins need nothing from the controller: copied while it provisions, they are off
            // the node's critical path (the runtime uses them only once the conflist exists).
            if let failure = await installPlugins(node) { return failure }
            return .waiting("no usable node network record from the eni-controller yet", again: .onChange)
        }
        let report: DatapathReport
        do {
            report = try await datapath.reconcile(record: record)
        } catch {
            logger.error("cannot configure the host", metadata: ["error": "\(error)"])
            await events.record(node, .warning, reason: "HostConfigurationFailed", message: "\(error)")
            return .failed("cannot configure the host: \(error)")
        }
        if !report.changes.isEmpty {
            logger.info("host configured", metadata: ["changes": "\(report.changes.count)", "detail": "\(report.changes.joined(separator: "; "))"])
        }
        guard report.failures.isEmpty else {
            logger.error("host configuration incomplete", metadata: ["failures": "\(report.failures.joined(separator: "; "))"])
            await events.record(node, .warning, reason: "HostConfigurationFailed", message: report.failures.joined(separator: "; "))
            return .failed("host configuration incomplete: \(report.failures.joined(separator: "; "))")
        }
        guard await hotplugSettled(node, report) else {
            return .waiting("waiting for the interfaces of \(report.missingENIs.map(\.id.description).sorted().joined(separator: ", "))", again: .forInterfaces)
        }

        var present = record
        present.enis.removeAll { eni in report.missingENIs.contains { $0.id == eni.id } }
        await delegate.datapathConfigured(for: record, usable: Set(present.podENIs.map(\.id)))
        // After the pool: a restarted daemon compares the plugins afresh (megabytes), and ADDs wait on
        // the pool, not on that.
        if let failure = await installPlugins(node) { return failure }
        guard await delegate.ipamServing() else {
            logger.info("waiting for the IPAM service before writing the CNI configuration")
            return .waiting("waiting for the IPAM service to answer", again: .soon)
        }
        do {
            if try installer.writeConflist(settings.network.conflist) {
                logger.info("CNI configuration written", metadata: ["path": "\(installer.paths.conflistPath)"])
                await events.record(node, .normal, reason: "NetworkReady", message:
                    "\(present.podAddresses.count) pod addresses on \(present.podENIs.count) ENIs; CNI configuration written")
            }
        } catch {
            logger.error("cannot write the CNI configuration", metadata: ["error": "\(error)"])
            return .failed("cannot write the CNI configuration: \(error)")
        }
        guard await removeTaint(node) else { return .failed("cannot remove the \(WellKnown.Taints.noInterfaceConfigured) taint") }
        progress.ready = true
        let missing = report.missingENIs.isEmpty ? "" : "; without \(report.missingENIs.map(\.id.description).sorted().joined(separator: ", ")) (no interface)"
        return .ready("\(present.podAddresses.count) pod addresses on \(present.podENIs.count) ENIs\(missing)")
    }

    /// Copies the plugins whose content differs; the failed outcome when that fails.
    private func installPlugins(_ node: Node) async -> PassOutcome? {
        do {
            let copied = try installer.installPlugins()
            if !copied.isEmpty { logger.info("CNI plugins installed", metadata: ["plugins": "\(copied.joined(separator: ", "))"]) }
            return nil
        } catch {
            logger.error("cannot install the CNI plugins", metadata: ["error": "\(error)"])
            await events.record(node, .warning, reason: "CNIInstallFailed", message: "\(error)")
            return .failed("cannot install the CNI plugins: \(error)")
        }
    }

    /// The record on the Node; nil (after an Event) when it is absent or unusable. A record that
    /// stops parsing leaves the host as the last good one configured it.
    private func currentRecord(_ node: Node) -> NodeNetworkRecord? {
        guard let text = node.annotations[WellKnown.Annotations.nodeNetwork] else {
            logger.info("waiting for the eni-controller to record this node's ENIs")
            return nil
        }
        if let last = progress.lastRecord, last.text == text { return last.record }
        do {
            let record = try NodeNetworkRecord(json: text)
            progress.lastRecord = (text, record)
            return record
        } catch {
            logger.error("the node network record is unusable; keeping the last good configuration", metadata: ["error": "\(error)"])
            Task { await events.record(node, .warning, reason: "InvalidNetworkRecord", message: "\(error)") }
            return progress.lastRecord?.record
        }
    }

    /// True when every ENI's interface is present, or those missing have had `hotplugTimeout`
    /// (then the node goes ahead with the others, and says so in an Event).
    private func hotplugSettled(_ node: Node, _ report: DatapathReport) async -> Bool {
        let now = ContinuousClock.now
        let missing = Set(report.missingENIs.map(\.id))
        let overdue = progress.noteMissing(missing, now: now, timeout: settings.hotplugTimeout)
        let newlyMissing = progress.firstTimeMissing(missing)
        for eni in report.missingENIs where overdue.contains(eni.id) {
            logger.warning("an attached ENI has no interface; going ahead without it", metadata: ["eni": "\(eni.id)", "mac": "\(eni.macAddress)"])
            await events.record(node, .warning, reason: "ENIInterfaceMissing", message:
                "\(eni.id) (MAC \(eni.macAddress), device index \(eni.deviceIndex)) has no network interface after \(settings.hotplugTimeout); its \(eni.podAddresses.count) addresses are not used until it appears")
        }
        if missing.isEmpty { return true }
        if progress.allOverdue(missing) { return true }
        // Looked for every `hotplugPoll`: said once per set of missing interfaces.
        if newlyMissing {
            logger.info("waiting for ENI interfaces to appear", metadata: ["enis": "\(missing.map(\.description).sorted().joined(separator: ", "))"])
        }
        return false
    }

    private func removeTaint(_ node: Node) async -> Bool {
        let taint = WellKnown.Taints.noInterfaceConfigured
        guard node.hasTaint(taint) else { return true }
        do {
            var removed = false
            _ = try await kube.update(Node.self, name: settings.nodeName) { node in
                removed = node.removeTaint(key: taint.key, effect: taint.effect)
                return removed
            }
            // The cache may still show a taint this agent already removed.
            if removed { logger.info("node ready for pods: taint removed", metadata: ["taint": "\(taint)"]) }
            return true
        } catch {
            logger.error("cannot remove the taint", metadata: ["taint": "\(taint)", "error": "\(error)"])
            return false
        }
    }
}

/// How a pass ended.
enum PassOutcome {
    /// When a waiting pass is worth repeating: on a change (or the resync period), soon (the
    /// growing retry), or at the hot-plug poll while attached ENIs have no interface yet.
    enum Again { case onChange, soon, forInterfaces }

    case ready(String)
    /// On the Node, the eni-controller or the kernel; `again` says when it is worth looking again.
    case waiting(String, again: Again)
    case failed(String)

    var result: String {
        switch self {
        case .ready: "ready"
        case .waiting: "waiting"
        case .failed: "failed"
        }
    }

    var detail: String {
        switch self {
        case .ready(let detail), .waiting(let detail, _), .failed(let detail): detail
        }
    }
}

/// The agent's memory between passes (lost on restart, which only costs a re-parse and a fresh
/// hot-plug timer).
private final class LockedProgress: Sendable {
    private struct State {
        var lastRecord: (text: String, record: NodeNetworkRecord)?
        var missingSince: [NetworkInterfaceID: ContinuousClock.Instant] = [:]
        var reported: Set<NetworkInterfaceID> = []
        var loggedMissing: Set<NetworkInterfaceID> = []
        var ready = false
        var lastPass: PassReport?
        var passes = 0
    }
    private let state = Mutex(State())

    /// Remembers a finished pass.
    func record(_ pass: PassReport) {
        state.withLock { state in
            state.lastPass = pass
            state.passes += 1
        }
    }

    var lastPass: PassReport? { state.withLock { $0.lastPass } }
    var passes: Int { state.withLock { $0.passes } }

    var lastRecord: (text: String, record: NodeNetworkRecord)? {
        get { state.withLock { $0.lastRecord } }
        set { state.withLock { $0.lastRecord = newValue } }
    }
    var ready: Bool {
        get { state.withLock { $0.ready } }
        set { state.withLock { $0.ready = newValue } }
    }

    /// Tracks which ENIs are missing since when; returns those that just became overdue.
    func noteMissing(_ missing: Set<NetworkInterfaceID>, now: ContinuousClock.Instant, timeout: Duration) -> Set<NetworkInterfaceID> {
        state.withLock { state in
            state.missingSince = state.missingSince.filter { missing.contains($0.key) }
            state.reported.formIntersection(missing)
            for id in missing where state.missingSince[id] == nil { state.missingSince[id] = now }
            let overdue = Set(missing.filter { now - state.missingSince[$0]! >= timeout && !state.reported.contains($0) })
            state.reported.formUnion(overdue)
            return overdue
        }
    }

    func allOverdue(_ missing: Set<NetworkInterfaceID>) -> Bool { state.withLock { missing.isSubset(of: $0.reported) } }

    /// True when `missing` differs from the set last reported missing (and remembers it).
    func firstTimeMissing(_ missing: Set<NetworkInterfaceID>) -> Bool {
        state.withLock { state in
            defer { state.loggedMissing = missing }
            return state.loggedMissing != missing
        }
    }
}
