import AWSEC2
@testable import EC2Sim
@testable import ENIController
import Foundation
import Kubernetes
@testable import KubeSim
import Synchronization
import Testing
import TestSupport
import VPCNetCore
import VPCNetSettings

/// EC2 and Kubernetes simulators over real HTTP, our clients pointed at them, and a VPC with a
/// subnet and a security group: what the controller sees in a real account.
final class Harness: Sendable {
    let simulator: EC2Simulator
    let ec2Server: EC2SimServer
    let http: AWSHTTPClient
    let ec2: EC2Client
    let kubeServer: KubeAPIServer
    let kube: KubeClient
    let subnet: String, group: String
    /// Successful EC2 actions, in order, with the caller's access key.
    let calls = Mutex<[(action: String, key: String?)]>([])

    static let cluster = "test-cluster"

    private init(simulator: EC2Simulator, ec2Server: EC2SimServer, http: AWSHTTPClient, ec2: EC2Client, kubeServer: KubeAPIServer,
                 kube: KubeClient, subnet: String, group: String) {
        self.simulator = simulator
        self.ec2Server = ec2Server
        self.http = http
        self.ec2 = ec2
        self.kubeServer = kubeServer
        self.kube = kube
        self.subnet = subnet
        self.group = group
    }

    static func start(throttle: SimThrottle = SimThrottle(enabled: false), attachDelay: Duration = .milliseconds(50),
                      subnetCIDR: String = "10.0.0.0/18") async throws -> Harness {
        let simulator = EC2Simulator(configuration: .init(attachDelay: attachDelay, detachDelay: attachDelay), throttle: throttle)
        let ec2Server = try await EC2SimServer.start(simulator, host: "127.0.0.1", port: 0)
        let http = AWSHTTPClient()
        let ec2 = client(ec2Server, http)
        let network = try await ec2.createSimulatedNetwork(subnets: [(subnetCIDR, "us-east-1a")])
        let subnet = network.subnets[0].id, group = network.groupID
        let kubeServer = try await KubeAPIServer.start(KubeAPI(store: KubeStore()), host: "127.0.0.1", port: 0)
        let kube = try KubeClient(connection: kubeServer.connection())
        let harness = Harness(simulator: simulator, ec2Server: ec2Server, http: http, ec2: ec2, kubeServer: kubeServer, kube: kube,
                              subnet: subnet, group: group)
        simulator.addActionObserver { [weak harness] action, key in harness?.calls.withLock { $0.append((action, key)) } }
        return harness
    }

    static func client(_ server: EC2SimServer, _ http: AWSHTTPClient, accessKeyID: String = EC2Simulator.testAccessKeyID,
                       secret: String = EC2Simulator.testSecretAccessKey) -> EC2Client {
        server.client(http: http, accessKeyID: accessKeyID, secretAccessKey: secret,
                      retry: RetryPolicy(baseBackoff: .milliseconds(20), maxBackoff: .milliseconds(500)))
    }

    func stop() async {
        try? await kube.shutdown()
        await kubeServer.stop()
        try? await http.shutdown()
        await ec2Server.stop()
    }

    /// Launches an instance and registers its Node, as the kubelet would.
    @discardableResult
    func launch(_ name: String, type: String = "m5.large", labels: [String: String] = [:]) async throws -> String {
        let instanceID = try await ec2.runSimulatedInstance(type: type, subnetID: subnet, groupID: group)
        var node = Node(name: name)
        node.raw["spec"] = ["providerID": .string("aws:///us-east-1a/\(instanceID)")]
        if !labels.isEmpty { node.raw["metadata"]?["labels"] = .object(labels.mapValues(JSONValue.string)) }
        _ = try await kube.create(node)
        return instanceID
    }

    func configuration(workers: Int = 4) -> ControllerConfiguration {
        var configuration = ControllerConfiguration(clusterName: Self.cluster)
        configuration.workers = workers
        configuration.queueBackoff = Backoff(base: .milliseconds(20), cap: .seconds(2))
        configuration.sweepInterval = .seconds(3600)
        // Most tests here are about ENIs and single addresses; those about prefixes say so.
        configuration.prefixDelegation = .off
        return configuration
    }

    func controller(_ configuration: ControllerConfiguration? = nil, ec2: EC2Client? = nil) -> ENIController {
        ENIController(kube: kube, ec2: ec2 ?? self.ec2, configuration: configuration ?? self.configuration())
    }

    /// The record on the node, once the controller has written one.
    func record(_ name: String) async throws -> NodeNetworkRecord? {
        let node = try await kube.get(Node.self, name: name)
        return try node.annotations[WellKnown.Annotations.nodeNetwork].map { try NodeNetworkRecord(json: $0) }
    }

    /// Checks everything a provisioned node must satisfy against EC2's truth; returns the problems.
    func problems(node name: String, instanceID: String, type: String = "m5.large", sizing: PodSizing = PodSizing(prefixDelegation: .off)) async throws -> [String] {
        guard let limits = InstanceTypeLimits.forType(type), let target = sizing.target(for: limits) else { return ["unknown type \(type)"] }
        let node = try await kube.get(Node.self, name: name)
        guard let text = node.annotations[WellKnown.Annotations.nodeNetwork] else { return ["\(name): no record"] }
        let record = try NodeNetworkRecord(json: text)
        var problems: [String] = []
        let ours = simulator.networkInterfaces.filter { eni in eni.tags.contains { $0.key == WellKnown.ENITags.instanceID && $0.value == instanceID } }
        if ours.count != target.podENIs { problems.append("\(name): \(ours.count) ENIs of ours in EC2, expected \(target.podENIs)") }
        let byIndex = ours.sorted { ($0.attachment?.deviceIndex ?? 0) < ($1.attachment?.deviceIndex ?? 0) }
        for (position, eni) in byIndex.enumerated() {
            guard let attachment = eni.attachment, attachment.instanceID == instanceID else { problems.append("\(eni.id) not attached"); continue }
            if !attachment.deleteOnTermination { problems.append("\(eni.id) without DeleteOnTermination") }
            let share = position < target.podENIs ? target.slotsPerENI[position] : 0
            let held = target.addressesPerSlot > 1 ? eni.prefixes.count : eni.secondaryIPs.count
            let other = target.addressesPerSlot > 1 ? eni.secondaryIPs.count : eni.prefixes.count
            if held != share || other != 0 {
                problems.append("\(eni.id) has \(eni.secondaryIPs.count) addresses and \(eni.prefixes.count) prefixes, expected \(share) slots")
            }
            guard let recorded = record.podENIs.first(where: { $0.id.rawValue == eni.id }) else { problems.append("\(eni.id) not in the record"); continue }
            if recorded.secondaryIPs != eni.secondaryIPs || recorded.ipv4Prefixes != eni.prefixes || recorded.deviceIndex != attachment.deviceIndex || recorded.macAddress.description != eni.macAddress {
                problems.append("\(eni.id): the record differs from EC2")
            }
        }
        if record.podENIs.count != ours.count { problems.append("\(name): record lists \(record.podENIs.count) pod ENIs") }
        if record.primaryENI == nil { problems.append("\(name): no primary ENI in the record") }
        if node.labels[WellKnown.Labels.instanceID] != instanceID { problems.append("\(name): instance label missing") }
        let capacity = String(sizing.podCapacity(podAddresses: target.podAddresses))
        if node.labels[WellKnown.Labels.podCapacity] != capacity { problems.append("\(name): capacity label \(node.labels[WellKnown.Labels.podCapacity] ?? "none"), expected \(capacity)") }
        if !node.hasTaint(WellKnown.Taints.noInterfaceConfigured) { problems.append("\(name): not tainted until its daemon configures it") }
        return problems
    }

    /// Takes one address in every /28 of the subnet (on ENIs not of this cluster), so no aligned
    /// /28 is free for a prefix while single addresses remain.
    func fragment(_ subnetCIDR: String) async throws {
        let cidr = try IPv4CIDR(parsing: subnetCIDR)
        let picks = cidr.subnets(prefixLength: 28).map { $0.network.advanced(by: 8)!.description }
        for chunk in stride(from: 0, to: picks.count, by: 40).map({ Array(picks[$0..<min($0 + 40, picks.count)]) }) {
            let eni = try await ec2.createNetworkInterface(.init(subnetID: subnet, securityGroupIDs: [group]))
            _ = try await ec2.assignPrivateIPAddresses(id: eni.id, .addresses(chunk))
        }
    }

    /// ENIs carrying our cluster tag that are not attached to an instance.
    var orphans: [String] {
        simulator.networkInterfaces.filter { eni in
            eni.attachment == nil && eni.tags.contains { $0.key == WellKnown.ENITags.cluster && $0.value == Self.cluster }
        }.map(\.id)
    }
}
