import AWSEC2
import ArgumentParser
import CommandSupport
import ControllerRuntime
import ENIController
import Foundation
import Kubernetes
import Logging
import VPCNetContracts
import VPCNetCore
import VPCNetSettings

/// The eni-controller executable: configuration, leader election, metrics and signals around
/// ``ENIController``. Everything that decides anything lives in the ENIController module.
@main
struct ENIControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eni-controller",
        abstract: "Give every AWS node its maximum ENIs and secondary addresses before it takes pods.",
        discussion: """
            Settings come from flags, then VPCNET_* environment variables, then the YAML file of --config \
            (keys as the flag names: \(ControllerSettings.table.names.joined(separator: ", "))). Environment: \
            \(ControllerSettings.table.settings.map(\.environmentName).joined(separator: ", ")), VPCNET_CONFIG, VPCNET_LOG_LEVEL, \
            VPCNET_METRICS_LISTEN, POD_NAME and POD_NAMESPACE (leader identity and Lease namespace, from the downward API); \
            KUBECONFIG or the in-cluster service account for the Kubernetes API; the standard AWS variables \
            (AWS_REGION, AWS_ENDPOINT_URL_EC2, AWS_ACCESS_KEY_ID, AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, \
            AWS_CONTAINER_CREDENTIALS_FULL_URI, …) for EC2, falling back to the instance profile.
            """)

    @OptionGroup var settings: ControllerSettingOptions

    @Option(help: "YAML settings file (a mounted ConfigMap). Env: VPCNET_CONFIG.") var config: String?
    @Option(help: "kubeconfig file (default: KUBECONFIG, then the in-cluster service account, then ~/.kube/config).")
    var kubeconfig: String?
    @Option(help: "Address for /metrics and /healthz, HOST:PORT; empty disables. Env: VPCNET_METRICS_LISTEN.")
    var metricsListen: String?
    @Flag(inversion: .prefixedNo, help: "Run only while holding the Lease, so several replicas can run for availability.")
    var leaderElect = true
    @Option(help: "Namespace of the Lease (default: POD_NAMESPACE, else kube-system).") var leaseNamespace: String?
    @Option(help: "Name of the Lease.") var leaseName = "vpcnet-eni-controller"
    @Option(help: "This replica's identity in the Lease (default: POD_NAME or the host name, plus a random suffix).")
    var identity: String?
    @Option(help: "Seconds a Lease stays valid without renewal: how long a dead leader blocks a standby.")
    var leaseDuration: Double = 15
    @Option(help: "Seconds the leader keeps trying to renew before it stops working.") var renewDeadline: Double = 10
    @Option(help: "Seconds between attempts to acquire or renew the Lease.") var retryPeriod: Double = 2
    @Option(help: "trace, debug, info, notice, warning, error or critical. Env: VPCNET_LOG_LEVEL.") var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logger = try Observability.bootstrapLogging(level: logLevel, environment: environment, label: "vpcnet.eni-controller")
        let registry = Observability.bootstrapMetrics()

        let configuration = try resolveConfiguration(environment)
        let connection = try KubeConnection.resolve(kubeconfig: kubeconfig, environment: environment)
        let kube = try KubeClient(connection: connection, userAgent: "vpcnet-eni-controller")
        let http = AWSHTTPClient()
        let ec2 = try await EC2Client.fromEnvironment(AWSEnvironment(variables: environment), httpClient: http)

        try await Observability.serveMetrics(registry, address: metricsListen, environment: environment, defaultAddress: "0.0.0.0:\(WellKnown.Ports.controllerMetrics)", logger: logger)

        let main = Task {
            if leaderElect {
                let name = identity ?? "\(environment["POD_NAME"] ?? ProcessInfo.processInfo.hostName)-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
                let elector = LeaderElector(client: kube, configuration: .init(
                    namespace: leaseNamespace ?? environment["POD_NAMESPACE"] ?? "kube-system", name: leaseName, identity: name,
                    leaseDuration: .seconds(leaseDuration), renewDeadline: .seconds(renewDeadline), retryPeriod: .seconds(retryPeriod)),
                    logger: logger)
                // Losing the Lease stops the work; campaign again with a fresh controller (fresh caches).
                while !Task.isCancelled {
                    do {
                        try await elector.run { await ENIController(kube: kube, ec2: ec2, configuration: configuration, logger: logger).run() }
                    } catch LeaderElectionError.lost {
                        continue
                    } catch let error as LeaderElectionError {
                        logger.critical("leader election cannot run", metadata: ["error": "\(error)"])
                        break
                    } catch {
                        break
                    }
                }
            } else {
                await ENIController(kube: kube, ec2: ec2, configuration: configuration, logger: logger).run()
            }
        }
        onTermination { main.cancel() }
        await main.value
        logger.info("stopped")
        try? await kube.shutdown()
        try? await http.shutdown()
    }

    func validate() throws {
        guard leaseDuration > renewDeadline, renewDeadline > retryPeriod * 1.2, retryPeriod > 0 else {
            throw ValidationError("need --lease-duration > --renew-deadline > 1.2 × --retry-period > 0")
        }
    }

    func resolveConfiguration(_ environment: [String: String]) throws -> ControllerConfiguration {
        try ControllerSettings.table.resolve(flags: settings.given, configFile: config, environment: environment)
    }
}
