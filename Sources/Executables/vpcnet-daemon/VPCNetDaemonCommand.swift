import ArgumentParser
import CommandSupport
import Foundation
import Synchronization
import HTTPServing
import IPAM
import Kubernetes
import Logging
import VPCNetContracts
import VPCNetCore
import VPCNetDaemon
import VPCNetSettings

/// The vpcnet-daemon executable: settings, logging, metrics and signals around the VPCNetDaemon
/// module, which holds all behaviour.
@main
struct VPCNetDaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vpcnet-daemon",
        abstract: "Configure this node's ENIs for pods, install CNI, and serve the node's pod addresses.",
        discussion: """
            Settings come from flags, then VPCNET_* environment variables (\(DaemonSettings.table.settings.map(\.environmentName).joined(separator: ", "))), \
            then the YAML file of --config (keys as the flag names). NODE_NAME (downward API) also gives the node name. \
            KUBECONFIG or the in-cluster service account reach the Kubernetes API.
            """,
        subcommands: [Run.self, Uninstall.self],
        defaultSubcommand: Run.self)
}

/// The settings both subcommands read.
struct SettingOptions: ParsableArguments {
    @OptionGroup var table: DaemonSettingOptions
    @Option(help: "YAML settings file (a mounted ConfigMap). Env: VPCNET_CONFIG.") var config: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical. Env: VPCNET_LOG_LEVEL.") var logLevel: String?

    func resolve(_ environment: [String: String]) throws -> DaemonConfiguration {
        try DaemonSettings.table.resolve(flags: table.given, configFile: config, environment: environment)
    }

    func bootstrapLogging(_ environment: [String: String]) throws -> Logger {
        try Observability.bootstrapLogging(level: logLevel, environment: environment, label: "vpcnet.daemon")
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon (the default).")
    static let defaultMetricsAddress = "0.0.0.0:\(WellKnown.Ports.daemonMetrics)"

    @OptionGroup var settings: SettingOptions
    @Option(help: "kubeconfig file (default: KUBECONFIG, then the in-cluster service account, then ~/.kube/config).")
    var kubeconfig: String?
    @Option(help: "Address for /metrics and /healthz, HOST:PORT; empty disables. Env: VPCNET_METRICS_LISTEN.")
    var metricsListen: String?
    @Option(help: "Loopback address for the read-only introspection endpoint (GET /v1/status, JSON), HOST:PORT; empty disables. Env: VPCNET_INTROSPECTION_LISTEN.")
    var introspectionListen: String?
    @Option(help: "A file (in the pod's own /tmp) written once every check that can be made before taking the node's lock has passed; `vpcnetctl ready --preflight-file` requires it, so a surge pod that cannot start is never Ready. Env: VPCNET_PREFLIGHT_FILE.")
    var preflightFile: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logger = try settings.bootstrapLogging(environment)
        let marker = preflightFile ?? environment["VPCNET_PREFLIGHT_FILE"]
        if let marker, FileManager.default.fileExists(atPath: marker) { try FileManager.default.removeItem(atPath: marker) }
        // Pre-flight: everything that can be checked before the node's lock (so before the old
        // daemon of a rolling update is stopped): settings, addresses, the API connection, the
        // state file. The Kubernetes client itself comes after (once made it must be shut down).
        let configuration = try settings.resolve(environment)
        let introspection = try introspectionAddress(environment)
        let metricsAddress = metricsListen ?? environment["VPCNET_METRICS_LISTEN"] ?? Self.defaultMetricsAddress
        if !metricsAddress.isEmpty { _ = try listenAddress(metricsAddress, option: "--metrics-listen") }
        let connection = try KubeConnection.resolve(kubeconfig: kubeconfig, environment: environment)
        _ = try PoolStore(path: configuration.allocationsPath, legacyPath: configuration.legacyAllocationsPath).load()
        if let marker { try AtomicFile.write(Array("ok\n".utf8), to: marker, mode: 0o600) }
        // One daemon per node. Until the lock is ours nothing is touched: not the metrics port,
        // the socket, the state or the kernel (a surge pod waits here while the old one serves).
        let lock = try await DaemonLock.acquire(stateDirectory: configuration.stateDirectory, logger: logger)
        defer { withExtendedLifetime(lock) {} }
        let registry = Observability.bootstrapMetrics()
        let kube = try KubeClient(connection: connection, userAgent: "vpcnet-daemon")
        let metricsServer = try await Observability.serveMetrics(registry, address: metricsAddress, environment: environment,
                                                                 defaultAddress: Self.defaultMetricsAddress, logger: logger)
        let introspectionServer = Mutex<HTTPServer?>(nil)
        logger.info("starting", metadata: ["node": "\(configuration.nodeName)", "socket": "\(configuration.socketPath)"])
        let main = Task {
            try await Daemon.run(configuration, kube: kube, logger: logger) { view in
                guard let (host, port) = introspection else { return }
                let server = try await ResourceServer.start(host: host, port: port, resources: [
                    "/v1/status": HTTPResource(contentType: "application/json") { await view.json() },
                    "/healthz": HTTPResource(contentType: "text/plain") { Array("ok\n".utf8) },
                ])
                introspectionServer.withLock { $0 = server }
                logger.info("serving introspection", metadata: ["address": "\(server.localAddress?.description ?? "")"])
            }
        }
        // SIGTERM ends the process at once. Nothing is lost: every change is persisted before it
        // is answered, the host keeps its configuration, and the plugin repeats a call that was
        // cut off, now to the successor, which the exit lets in (lock, ports) without delay.
        // (Unwinding every task instead took up to seconds, and cancelling an HTTP request as it
        // starts can crash swift-nio's request writer.)
        onTermination {
            logger.notice("terminating; the node keeps its configuration")
            Foundation.exit(0)
        }
        let result = await main.result
        // The node is no longer touched and the socket is closed: free the ports too, then let a
        // successor (a rolling update's surge daemon) in before the rest of the shutdown.
        await metricsServer?.stop()
        await introspectionServer.withLock { $0 }?.stop()
        lock.release()
        try? await kube.shutdown()
        logger.info("stopped")
        try result.get()
    }
}

extension Run {
    /// The introspection address, which must be a loopback one: it shows every pod's address.
    func introspectionAddress(_ environment: [String: String]) throws -> (String, Int)? {
        let text = introspectionListen ?? environment["VPCNET_INTROSPECTION_LISTEN"] ?? "127.0.0.1:\(WellKnown.Ports.introspection)"
        guard !text.isEmpty else { return nil }
        let (host, port) = try listenAddress(text, option: "--introspection-listen")
        let octets = host.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
        let loopbackIPv4 = octets.count == 4 && !octets.contains(nil) && octets[0] == 127
        guard host == "localhost" || host == "::1" || loopbackIPv4 else {
            throw ValidationError("--introspection-listen must be a loopback address (127.0.0.1, ::1 or localhost), got \(text)")
        }
        return (host, port)
    }
}

struct Uninstall: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove everything the daemon created on this node: CNI configuration and plugins, routes, rules, iptables chains, link settings, sysctls, state.")

    @OptionGroup var settings: SettingOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logger = try settings.bootstrapLogging(environment)
        var given = environment
        // The node name only labels the log here; uninstall works without one.
        if given["NODE_NAME"] == nil && settings.table.nodeName == nil && given["VPCNET_NODE_NAME"] == nil { given["NODE_NAME"] = "uninstall" }
        let configuration = try settings.resolve(given)
        // Never under a running daemon's feet: it would put everything back on its next pass.
        let lock = try await DaemonLock.acquire(stateDirectory: configuration.stateDirectory, wait: false, logger: logger)
        for line in try await Daemon.uninstall(configuration, logger: logger) { print(line) }
        withExtendedLifetime(lock) {}
    }
}
