import Foundation
import HostNetwork
import KernelFakes
import Kubernetes
import Netlink
@testable import KubeSim
import Synchronization
import Testing
import TestSupport
@testable import VPCNetDaemon
import VPCNetCore
import VPCNetSettings

/// The IPAM side as the agent sees it: whether it answers, and what it was told.
final class RecordingDelegate: NodeAgentDelegate {
    let serving = Atomic<Bool>(false)
    let configured = Mutex<[NodeNetworkRecord]>([])
    /// The record as far as it is usable (the ENIs whose interfaces are present).
    func datapathConfigured(for record: NodeNetworkRecord, usable: Set<NetworkInterfaceID>) async {
        var present = record
        present.enis.removeAll { $0.deviceIndex != 0 && !usable.contains($0.id) }
        configured.withLock { $0.append(present) }
    }
    func ipamServing() async -> Bool { serving.load(ordering: .relaxed) }
}

/// A node agent against the Kubernetes API simulator and a fake kernel, with its files in a
/// temporary directory.
struct AgentFixture {
    let server: KubeAPIServer
    let kube: KubeClient
    let kernel: FakeKernel
    let delegate: RecordingDelegate
    let directory: String
    let agent: NodeAgent
    static let nodeName = "ip-10-0-0-10.ec2.internal"

    static func start(record: NodeNetworkRecord?, withENI2: Bool = true, hotplugTimeout: Duration = .seconds(60)) async throws -> AgentFixture {
        let server = try await KubeAPIServer.start(KubeAPI(store: KubeStore()), host: "127.0.0.1", port: 0)
        let kube = try KubeClient(connection: server.connection())
        var node = Node(name: nodeName)
        node.addTaint(WellKnown.Taints.noInterfaceConfigured)
        if let record { node.annotations[WellKnown.Annotations.nodeNetwork] = record.jsonString() }
        _ = try await kube.create(node)

        let directory = Scratch.path("agent")
        try AtomicFile.makeDirectory(directory + "/source", mode: 0o755)
        for plugin in CNIInstaller.required { try AtomicFile.write("#!/bin/sh\necho \(plugin)\n", to: "\(directory)/source/\(plugin)", mode: 0o755) }
        var paths = CNIInstaller.Paths(sourceDirectories: [directory + "/missing", directory + "/source"], stateFile: directory + "/state/cni.json")
        paths.binDirectory = directory + "/bin"
        paths.confDirectory = directory + "/net.d"
        try AtomicFile.makeDirectory(directory + "/state", mode: 0o700)

        let kernel = SampleNode.kernel(withENI2: withENI2)
        let datapath = try HostDatapath(kernel: kernel, configuration: DatapathConfiguration(),
                                        stateFile: HostStateFile(path: directory + "/state/host.json"))
        var settings = NodeAgentSettings(nodeName: nodeName, network: CNINetworkConfiguration(mtu: 9001, socketPath: directory + "/ipam.sock",
                                                                                             spoolDirectory: directory + "/spool"))
        settings.resyncPeriod = .milliseconds(200)
        settings.hotplugTimeout = hotplugTimeout
        settings.retry = Backoff(base: .milliseconds(20), cap: .milliseconds(100))
        let delegate = RecordingDelegate()
        return AgentFixture(server: server, kube: kube, kernel: kernel, delegate: delegate, directory: directory,
                            agent: NodeAgent(kube: kube, datapath: datapath, installer: CNIInstaller(paths: paths), delegate: delegate,
                                             settings: settings))
    }

    /// A fixture for the length of `body`, stopped (awaited) however `body` ends.
    static func with(record: NodeNetworkRecord?, withENI2: Bool = true, hotplugTimeout: Duration = .seconds(60),
                     _ body: (AgentFixture) async throws -> Void) async throws {
        let fixture = try await start(record: record, withENI2: withENI2, hotplugTimeout: hotplugTimeout)
        try await withTeardown({ try await body(fixture) }, teardown: { await fixture.stop() })
    }

    /// Returns once the agent has finished `count` more passes: it has looked again, and done
    /// whatever it was going to do.
    func passes(_ count: Int) async throws {
        let start = agent.passCount
        try await eventually("\(count) more passes of the agent") { agent.passCount >= start + count }
    }

    /// Runs the agent for the length of `body`.
    func running(_ body: () async throws -> Void) async throws {
        let task = Task { await agent.run() }
        try await withTeardown(body, teardown: { task.cancel(); await task.value })
    }

    func node() async throws -> Node { try await kube.get(Node.self, name: Self.nodeName) }

    func events() async throws -> [Event] { try await kube.list(Event.self, namespace: "default").items }

    var conflistPath: String { directory + "/net.d/10-vpcnet.conflist" }

    func stop() async {
        try? await kube.shutdown()
        await server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite struct NodeAgentTests {
    @Test func theConflistWaitsForTheHostAndTheIPAMThenTheTaintGoes() async throws {
        try await AgentFixture.with(record: try SampleNode.record()) { fixture in
            try await fixture.running {
                try await eventually("the host is configured and the plugins installed") {
                    fixture.kernel.snapshot.routes.count == 4
                        && FileManager.default.isExecutableFile(atPath: fixture.directory + "/bin/vpcnet-ipam")
                }
                #expect(fixture.delegate.configured.withLock { $0.last?.podAddresses.count } == 3)
                try await fixture.passes(2)
                #expect(!FileManager.default.fileExists(atPath: fixture.conflistPath), "no conflist while the IPAM does not answer")
                #expect(try await fixture.node().hasTaint(WellKnown.Taints.noInterfaceConfigured))

                fixture.delegate.serving.store(true, ordering: .relaxed)
                try await eventually("the taint is removed") { try await !fixture.node().hasTaint(WellKnown.Taints.noInterfaceConfigured) }
                let conflist = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture.conflistPath))) as? [String: Any]
                let plugin = (conflist?["plugins"] as? [[String: Any]])?.first
                #expect(plugin?["type"] as? String == "ptp" && plugin?["mtu"] as? Int == 9001)
                #expect((plugin?["ipam"] as? [String: Any])?["type"] as? String == "vpcnet-ipam")
                #expect((plugin?["ipam"] as? [String: Any])?["socket"] as? String == fixture.directory + "/ipam.sock")
                #expect(fixture.agent.isReady)
                try await eventually("a NetworkReady event") { try await fixture.events().contains { $0.reason == "NetworkReady" } }

                // Converged: further passes write nothing.
                let writes = fixture.kernel.writes
                try await fixture.passes(2)
                #expect(fixture.kernel.writes == writes)
            }
        }
    }

    @Test func aMissingInterfaceIsWaitedForThenReportedAndTheNodeGoesAhead() async throws {
        try await AgentFixture.with(record: try SampleNode.record(), withENI2: false, hotplugTimeout: .milliseconds(600)) { fixture in
            fixture.delegate.serving.store(true, ordering: .relaxed)
            try await fixture.running {
                try await eventually("the first ENI is configured") { fixture.kernel.snapshot.routes.count == 2 }
                #expect(!FileManager.default.fileExists(atPath: fixture.conflistPath), "waiting for the second ENI's interface")
                try await eventually("an Event names the missing ENI") {
                    try await fixture.events().contains { $0.reason == "ENIInterfaceMissing" && $0.message?.contains("eni-00000000000000002") == true }
                }
                try await eventually("the node goes ahead with the ENIs it has") { FileManager.default.fileExists(atPath: fixture.conflistPath) }
                #expect(fixture.delegate.configured.withLock { $0.last?.podAddresses.count } == 2)

                fixture.kernel.mutate { host in
                    host.links.append(Link(index: 4, name: "ens7", macAddress: SampleNode.eni2MAC, mtu: 1500, isUp: false))
                    host.sysctls["net/ipv4/conf/ens7/rp_filter"] = "1"
                }
                try await eventually("the late interface is configured and its addresses offered") {
                    fixture.kernel.snapshot.routes.count == 4 && fixture.delegate.configured.withLock { $0.last?.podAddresses.count } == 3
                }
            }
        }
    }

    @Test func aBrokenRecordKeepsTheLastGoodConfigurationAndSaysSo() async throws {
        try await AgentFixture.with(record: try SampleNode.record()) { fixture in
            fixture.delegate.serving.store(true, ordering: .relaxed)
            try await fixture.running {
                try await eventually("configured") { FileManager.default.fileExists(atPath: fixture.conflistPath) }
                let converged = fixture.kernel.snapshot
                _ = try await fixture.kube.update(Node.self, name: AgentFixture.nodeName) { node in
                    node.annotations[WellKnown.Annotations.nodeNetwork] = "{\"version\": 1, \"enis\": \"nonsense\"}"
                    return true
                }
                try await eventually("an InvalidNetworkRecord event") { try await fixture.events().contains { $0.reason == "InvalidNetworkRecord" } }
                try await fixture.passes(2)
                #expect(fixture.kernel.snapshot == converged)

                // A valid record without the second ENI: its configuration goes.
                var smaller = try SampleNode.record()
                smaller.enis.removeAll { $0.deviceIndex == 2 }
                _ = try await fixture.kube.update(Node.self, name: AgentFixture.nodeName) { node in
                    node.annotations[WellKnown.Annotations.nodeNetwork] = smaller.jsonString()
                    return true
                }
                try await eventually("ENI 2's routes and rules are removed") {
                    let host = fixture.kernel.snapshot
                    return host.routes.count == 2 && !host.rules.contains { $0.table == 7302 }
                }
            }
        }
    }

    @Test func aNodeWithoutARecordIsLeftAlone() async throws {
        try await AgentFixture.with(record: nil) { fixture in
            fixture.delegate.serving.store(true, ordering: .relaxed)
            try await fixture.running {
                try await fixture.passes(2)
                #expect(fixture.agent.lastPass?.result == "waiting", "the agent ran and found nothing to do")
                #expect(fixture.kernel.writes == 0 && !FileManager.default.fileExists(atPath: fixture.conflistPath))
                #expect(try await fixture.node().hasTaint(WellKnown.Taints.noInterfaceConfigured))
            }
        }
    }
}

@Suite struct CNIInstallerTests {
    @Test func pluginsAreCopiedWhenTheyDifferAndOnlyOursAreUninstalled() throws {
        let directory = Scratch.path("cni")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try AtomicFile.makeDirectory(directory + "/source", mode: 0o755)
        try AtomicFile.makeDirectory(directory + "/bin", mode: 0o755)
        for plugin in CNIInstaller.required { try AtomicFile.write("#!/bin/sh\necho \(plugin) 1\n", to: "\(directory)/source/\(plugin)", mode: 0o755) }
        // Another CNI's loopback is already there.
        try AtomicFile.write("someone else's loopback", to: directory + "/bin/loopback", mode: 0o755)
        var paths = CNIInstaller.Paths(sourceDirectories: [directory + "/source"], stateFile: directory + "/cni.json")
        paths.binDirectory = directory + "/bin"
        paths.confDirectory = directory + "/net.d"
        let installer = CNIInstaller(paths: paths)

        #expect(try installer.installPlugins() == ["vpcnet-ipam", "ptp", "loopback"])
        #expect(try installer.installPlugins().isEmpty, "nothing differs: nothing copied")
        try AtomicFile.write("#!/bin/sh\necho ptp 2\n", to: directory + "/source/ptp", mode: 0o755)
        #expect(try installer.installPlugins() == ["ptp"])
        #expect(FileManager.default.isExecutableFile(atPath: directory + "/bin/ptp"))

        let network = CNINetworkConfiguration(mtu: 9001, socketPath: "/run/vpcnet/ipam.sock", spoolDirectory: "/var/lib/vpcnet/spool")
        #expect(try installer.writeConflist(network.conflist))
        #expect(try !installer.writeConflist(network.conflist))

        let removed = try installer.uninstall()
        #expect(Set(removed) == [paths.conflistPath, directory + "/bin/vpcnet-ipam", directory + "/bin/ptp",
                                 directory + "/bin/loopback (the original put back)"])
        #expect(try AtomicFile.read(directory + "/bin/loopback") == Array("someone else's loopback".utf8), "another CNI's plugin is put back")
    }

    /// ptp with vpcnet-ipam, then portmap (on by default) and bandwidth (when asked for) with the
    /// capabilities runtimes fill in (`portMappings`, `bandwidth`).
    @Test func theConflistChainsPortmapAndBandwidthAsSet() throws {
        var network = CNINetworkConfiguration(mtu: 9001, socketPath: "/run/vpcnet/ipam.sock", spoolDirectory: "/var/lib/vpcnet/spool")
        #expect(network.hostPorts && !network.bandwidth)
        network.bandwidth = true
        func chain(_ network: CNINetworkConfiguration) throws -> [[String: Any]] {
            let document = try #require(try JSONSerialization.jsonObject(with: Data(network.conflist.utf8)) as? [String: Any])
            return try #require(document["plugins"] as? [[String: Any]])
        }
        let plugins = try chain(network)
        #expect(plugins.map { $0["type"] as? String } == ["ptp", "portmap", "bandwidth"])
        #expect((plugins[1]["capabilities"] as? [String: Bool]) == ["portMappings": true] && plugins[1]["snat"] as? Bool == true)
        #expect((plugins[2]["capabilities"] as? [String: Bool]) == ["bandwidth": true])
        #expect(network.plugins == ["vpcnet-ipam", "ptp", "loopback", "portmap", "bandwidth"])
        network.hostPorts = false
        #expect(try chain(network).map { $0["type"] as? String } == ["ptp", "bandwidth"] && !network.plugins.contains("portmap"))
        network.bandwidth = false
        #expect(try chain(network).map { $0["type"] as? String } == ["ptp"] && network.plugins == CNIInstaller.required)
    }

    @Test func aMissingPluginIsAClearError() throws {
        let directory = Scratch.path("cni")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var paths = CNIInstaller.Paths(sourceDirectories: [directory + "/nowhere"], stateFile: directory + "/cni.json")
        paths.binDirectory = directory + "/bin"
        #expect { try CNIInstaller(paths: paths).installPlugins() } throws: { "\($0)".contains("cannot find the vpcnet-ipam plugin") }
    }
}
