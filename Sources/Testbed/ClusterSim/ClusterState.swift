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
    /// Each EC2 call's latency in milliseconds, by action (`*`: every action without its own).
    public var ec2LatencyMilliseconds: [String: Int] = [:]
    /// How long after `attached` an ENI's device appears in the instance.
    public var hotplugDelayMilliseconds = 0
    /// Extra `vpcnet-daemon` arguments for every node (e.g. `--metadata-access allowed`).
    public var daemonArguments: [String] = []
    /// The controllers' `prefix-delegation` setting (`auto`, `on`, `off`); the kubelets' max-pods follows it.
    public var prefixDelegation = PodSizing.PrefixDelegation.default.rawValue

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
