import Foundation
import HostNetwork
import IPAM
import IPAMClient
import Kubernetes
import Logging
import Metrics
import Netlink
import VPCNetContracts
import VPCNetCore
import VPCNetSettings

extension DaemonConfiguration {
    var installerPaths: CNIInstaller.Paths {
        var paths = CNIInstaller.Paths(sourceDirectories: cniSourceDirectories, stateFile: stateDirectory + "/cni-installed.json")
        paths.binDirectory = cniBinDirectory
        paths.confDirectory = cniConfDirectory
        return paths
    }
}

/// The daemon: the node agent (host datapath, CNI installation, readiness), the IPAM service on
/// its socket, the no-free-ips taint and the collection of orphaned allocations.
public enum Daemon {
    /// Runs until cancelled. `serveIntrospection` is handed the read-only view of the node once
    /// its parts exist (the executable serves it on localhost).
    public static func run(_ configuration: DaemonConfiguration, kube: KubeClient, logger: Logger,
                           serveIntrospection: (@Sendable (Introspection) async throws -> Void)? = nil) async throws {
        try AtomicFile.requirePrivateDirectory(configuration.stateDirectory)
        try AtomicFile.requirePrivateDirectory(AtomicFile.directory(of: configuration.socketPath))
        AtomicFile.removeStaleTemporaries(in: AtomicFile.directory(of: configuration.socketPath), olderThanSeconds: 0)
        // Left by a crash between writing and renaming (the daemon is this directory's only writer;
        // plugins may be writing to the spool right now, so only old ones go there).
        AtomicFile.removeStaleTemporaries(in: configuration.stateDirectory, olderThanSeconds: 0)
        AtomicFile.removeStaleTemporaries(in: configuration.spoolDirectory, olderThanSeconds: 60)
        let namespacePath = configuration.namespacePath
        let flusher = ConntrackFlusher(window: ConntrackFlusher.window(forCooldown: configuration.cooldown), logger: logger) { addresses in
            try Conntrack.deleteEntries(involving: addresses, namespacePath: namespacePath)
        }
        defer { flusher.flushNow() }  // the releases of the last window, however the daemon stops
        let manager = try AddressManager(
            store: PoolStore(path: configuration.allocationsPath, legacyPath: configuration.legacyAllocationsPath),
            cooldownMilliseconds: configuration.cooldown.milliseconds,
            now: { Int64(Date().timeIntervalSince1970 * 1000) },
            onRelease: { allocation in flusher.released(allocation.address) })
        for duplicate in manager.duplicatesAtLoad {
            logger.error("the IPAM state held an address twice; dropped the newer allocation",
                         metadata: ["address": "\(duplicate.address)", "attachment": "\(duplicate.key)"])
        }
        try await replaySpool(configuration, manager: manager, logger: logger)

        let datapath = try await hostDatapath(configuration, logger: logger)
        let rescheduler = PodRescheduler(kube: kube, deletePods: configuration.deletePodsWithoutAddresses, logger: logger)
        var network = CNINetworkConfiguration(mtu: configuration.datapath.mtu, socketPath: configuration.socketPath,
                                              spoolDirectory: configuration.spoolDirectory)
        network.hostPorts = configuration.hostPorts
        network.bandwidth = configuration.bandwidthLimits
        var settings = NodeAgentSettings(nodeName: configuration.nodeName, network: network)
        settings.resyncPeriod = configuration.resyncPeriod
        settings.hotplugTimeout = configuration.hotplugTimeout
        let agent = NodeAgent(kube: kube, datapath: datapath, installer: CNIInstaller(paths: configuration.installerPaths, plugins: network.plugins),
                              delegate: AddressManagerDelegate(manager: manager, socketPath: configuration.socketPath, logger: logger),
                              settings: settings, logger: logger)
        let nodeName = configuration.nodeName
        let taint = FreeAddressTaint(kube: kube, nodeName: nodeName, manager: manager, rescheduler: rescheduler, logger: logger,
                                     cachedNode: { agent.informer.get(nodeName) })
        let profiles = PodProfiles(kube: kube, nodeName: nodeName, logger: logger)
        let server = try IPAMServer(socketPath: configuration.socketPath,
                                    services: [IPAMService(manager: manager, observer: taint, profiles: profiles), HealthService(manager: manager)])
        let collector = AllocationCollector(kube: kube, nodeName: configuration.nodeName, manager: manager,
                                            grace: configuration.collectGrace, logger: logger)
        do {
            try await serveIntrospection?(Introspection(nodeName: nodeName, manager: manager, agent: agent))
        } catch {
            // A read-only view for operators must never take the node's networking down.
            logger.warning("cannot serve introspection; going on without it", metadata: ["error": "\(error)"])
        }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            group.addTask { await agent.run() }
            group.addTask { await profiles.run() }
            group.addTask { await collector.run(interval: configuration.collectInterval) }
            group.addTask { await PoolGauges(manager: manager, record: { agent.record }).run() }
            group.addTask {
                // DELs spooled while the daemon was starting (or its socket was briefly unreachable).
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(10))
                    do { try await replaySpool(configuration, manager: manager, logger: logger) } catch {
                        logger.warning("cannot replay spooled releases", metadata: ["error": "\(error)"])
                    }
                }
            }
            if configuration.taintWhenNoFreeAddresses { group.addTask { await taint.run() } }
            group.addTask {
                // Cancellation (SIGTERM) stops the server gracefully; the other loops end by themselves.
                await withTaskCancellationHandler { await Trigger().wait(atMost: .seconds(86_400 * 365)) } onCancel: { server.stop() }
            }
            try await group.next()
            group.cancelAll()
            server.stop()
        }
    }

    /// Removes everything the daemon created: the CNI configuration first (no new pods), then the
    /// plugins it installed, the host datapath, its state, spool and socket.
    public static func uninstall(_ configuration: DaemonConfiguration, logger: Logger) async throws -> [String] {
        var done = try CNIInstaller(paths: configuration.installerPaths).uninstall()
        done += try await hostDatapath(configuration, logger: logger).uninstall()
        for file in [configuration.legacyAllocationsPath, configuration.allocationsPath, configuration.socketPath,
                     configuration.stateDirectory + "/daemon.lock"] where FileManager.default.fileExists(atPath: file) {
            try AtomicFile.remove(file)
            done.append("removed \(file)")
        }
        for path in [configuration.spoolDirectory, configuration.stateDirectory] where FileManager.default.fileExists(atPath: path) {
            // Only if empty: anything else there is not ours to delete.
            if (try? FileManager.default.contentsOfDirectory(atPath: path).isEmpty) == true {
                try FileManager.default.removeItem(atPath: path)
                done.append("removed \(path)")
            }
        }
        return done
    }

    /// The node's kernel (its namespace, its iptables backend) and the datapath state over it.
    static func hostDatapath(_ configuration: DaemonConfiguration, logger: Logger) async throws -> HostDatapath {
        let kernel = try await LinuxKernel(namespacePath: configuration.namespacePath, iptablesBackend: configuration.iptablesBackend,
                                           sysctlDirectory: configuration.sysctlDirectory)
        logger.info("iptables backend", metadata: ["backend": "\(kernel.iptables.backend.rawValue)"])
        return try HostDatapath(kernel: kernel, configuration: configuration.datapath,
                                stateFile: HostStateFile(path: configuration.stateDirectory + "/host.json"))
    }

    static func replaySpool(_ configuration: DaemonConfiguration, manager: AddressManager, logger: Logger) async throws {
        let spool = ReleaseSpool(directory: configuration.spoolDirectory)
        for (key, file) in try spool.pending() {
            let released = try await manager.release(key)
            try AtomicFile.remove(file)
            logger.info("replayed a release the plugin spooled while the daemon was down",
                        metadata: ["attachment": "\(key)", "address": "\(released?.address.description ?? "none held")"])
        }
    }
}

/// The node agent's view of the IPAM: configure the pool, and ask the service over its socket
/// (as the plugin would) whether it answers.
struct AddressManagerDelegate: NodeAgentDelegate {
    let manager: AddressManager
    let socketPath: String
    let logger: Logger

    func datapathConfigured(for record: NodeNetworkRecord, usable: Set<NetworkInterfaceID>) async {
        do {
            for dropped in try await manager.configure(record: record, usable: usable) {
                logger.warning("an allocation's address left the node record; dropped",
                               metadata: ["address": "\(dropped.address)", "attachment": "\(dropped.key)"])
            }
        } catch {
            logger.error("cannot record the node's addresses", metadata: ["error": "\(error)"])
        }
    }

    func ipamServing() async -> Bool {
        let client = IPAMClient(socketPath: socketPath, timeoutMilliseconds: 2000)
        // A blocking call: on a thread of its own, never on the concurrency pool.
        return await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: (try? client.health()) == .serving) }.start()
        }
    }
}

/// `vpcnet_ipam_addresses{state}` and `vpcnet_ipam_eni_addresses{eni, state}` gauges (state:
/// allocated, free, cooling_down; and total for the node), refreshed every second. An ENI that
/// leaves the node has its gauges set to zero. `vpcnet_daemon_ipv4_prefixes` and
/// `vpcnet_daemon_single_addresses`: what the node's record gives its pod ENIs.
struct PoolGauges {
    let manager: AddressManager
    let record: @Sendable () -> NodeNetworkRecord?

    func run() async {
        let gauges = ["allocated", "free", "cooling_down", "total"].map { ($0, Gauge(label: "vpcnet_ipam_addresses", dimensions: [("state", $0)])) }
        var seenENIs: Set<NetworkInterfaceID> = []
        let prefixes = Gauge(label: "vpcnet_daemon_ipv4_prefixes"), singles = Gauge(label: "vpcnet_daemon_single_addresses")
        while !Task.isCancelled {
            let podENIs = record()?.podENIs ?? []
            prefixes.record(podENIs.reduce(0) { $0 + $1.ipv4Prefixes.count })
            singles.record(podENIs.reduce(0) { $0 + $1.secondaryIPs.count })
            let status = await manager.status
            for (state, gauge) in gauges {
                gauge.record(["allocated": status.allocated, "free": status.free, "cooling_down": status.coolingDown, "total": status.total][state]!)
            }
            let states = await manager.addressStates
            let enis = Set(states.map(\.eniID))
            for eni in enis.union(seenENIs) {
                for state in AddressState.State.allCases {
                    Gauge(label: "vpcnet_ipam_eni_addresses", dimensions: [("eni", eni.rawValue), ("state", state.rawValue)])
                        .record(states.count { $0.eniID == eni && $0.state == state })
                }
            }
            seenENIs = enis
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
