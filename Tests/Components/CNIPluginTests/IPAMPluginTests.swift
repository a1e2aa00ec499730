@testable import CNIPlugin
import Foundation
import IPAMClient
import IPAMProto
import Synchronization
import Testing
import TestSupport
import VPCNetContracts
import VPCNetCore

/// The daemon as the plugin sees it, scripted.
final class ScriptedDaemon: IPAMBackend, @unchecked Sendable {
    var failure: IPAMCallError?
    var requests: [String] = []

    func add(_ request: Vpcnet_Ipam_V1_AddRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_AddResponse {
        let ports = request.hostPorts.map { "\($0.hostIp.isEmpty ? "" : $0.hostIp + ":")\($0.port)/\($0.protocol)" }
        requests.append("add \(request.attachment.containerID) pod=\(request.pod.namespace)/\(request.pod.name)/\(request.pod.uid)"
                        + (ports.isEmpty ? "" : " hostPorts=\(ports.joined(separator: ","))"))
        if let failure { throw failure }
        return .with {
            $0.address = "10.0.1.5"
            $0.prefixLength = 20
            $0.gateway = "10.0.0.11"
        }
    }
    func del(_ request: Vpcnet_Ipam_V1_DelRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_DelResponse {
        requests.append("del \(request.attachment.containerID)")
        if let failure { throw failure }
        return .init()
    }
    func check(_ request: Vpcnet_Ipam_V1_CheckRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_CheckResponse {
        requests.append("check \(request.address)")
        if let failure { throw failure }
        return .init()
    }
    func gc(_ request: Vpcnet_Ipam_V1_GCRequest) throws(IPAMCallError) -> Vpcnet_Ipam_V1_GCResponse {
        requests.append("gc \(request.validAttachments.map(\.containerID))")
        return .init()
    }
    func health() throws(IPAMCallError) -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        if let failure { throw failure }
        return .serving
    }
}

@Suite struct IPAMPluginTests {
    let daemon = ScriptedDaemon()
    let spool = Scratch.path("spool")

    func run(_ command: String, version: String = "1.0.0", extra: String = "", environment: [String: String] = [:]) -> IPAMPlugin.Outcome {
        var env = ["CNI_COMMAND": command, "CNI_CONTAINERID": "abc", "CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": "eth0",
                   "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1;K8S_POD_UID="]
        env.merge(environment) { $1 }
        let config = "{\"cniVersion\":\"\(version)\",\"name\":\"vpcnet\",\"type\":\"ptp\",\"ipam\":{\"type\":\"vpcnet-ipam\",\"spoolDir\":\"\(spool)\"}\(extra)}"
        let daemon = self.daemon
        return IPAMPlugin(backend: { _ in daemon }).run(environment: env, stdin: Array(config.utf8))
    }

    @Test(arguments: CNIVersion.supported)
    func addRendersTheRequestedVersion(version: String) throws {
        let outcome = run("ADD", version: version)
        #expect(outcome.exitCode == 0)
        let legacy = version.hasPrefix("0.")
        #expect(outcome.output == "{\"cniVersion\":\"\(version)\",\"dns\":{},\"ips\":[{\"address\":\"10.0.1.5/20\",\"gateway\":\"10.0.0.11\"\(legacy ? ",\"version\":\"4\"" : "")}],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}")
        #expect(daemon.requests == ["add abc pod=default/web-1/"], "the pod comes from CNI_ARGS; an empty value is a value")
    }

    @Test func theRuntimesPortMappingsGoToTheDaemonAndARefusalIsACNIError() throws {
        let mappings = #","runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"TCP"},{"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"10.0.0.10"},{"hostPort":9,"containerPort":9,"hostIP":"::1"}]}"#
        #expect(run("ADD", extra: mappings).exitCode == 0)
        #expect(daemon.requests == ["add abc pod=default/web-1/ hostPorts=8080/tcp,10.0.0.10:53/udp"], "an IPv6 host address is not the IPv4 node's")
        #expect(run("ADD", extra: #","runtimeConfig":{"portMappings":[{"containerPort":80}]}"#).exitCode == 1, "a mapping needs its hostPort")
        daemon.failure = .status(code: .alreadyExists, message: "hostPort 8080/tcp is already taken on this node by pod default/hp-0")
        let outcome = run("ADD", extra: mappings)
        let error = try JSONDecoder().decode([String: JSONValue].self, from: Data(outcome.output.utf8))
        #expect(outcome.exitCode == 1 && error["msg"] == "hostPort 8080/tcp is already taken on this node by pod default/hp-0")
    }

    @Test func daemonAnswersBecomeTheSpecsErrorCodes() throws {
        let cases: [(IPAMCallError, Int)] = [
            (.unreachable("gone"), 11), (.deadlineExceeded, 11), (.status(code: 8, message: "no free address"), 100),
            (.status(code: 14, message: "not configured"), 11), (.status(code: 13, message: "disk full"), 101),
        ]
        for (failure, code) in cases {
            daemon.failure = failure
            let outcome = run("ADD")
            let error = try JSONDecoder().decode([String: JSONValue].self, from: Data(outcome.output.utf8))
            #expect(outcome.exitCode == 1 && error["code"] == .int(Int64(code)) && error["cniVersion"] == "1.0.0", "\(failure)")
        }
    }

    @Test func delSpoolsWhenTheDaemonIsDownAndSucceeds() throws {
        daemon.failure = .unreachable("connection refused")
        let outcome = run("DEL")
        #expect(outcome == IPAMPlugin.Outcome(output: "", exitCode: 0))
        let pending = try ReleaseSpool(directory: spool).pending()
        #expect(pending.map(\.key) == [AttachmentKey(network: "vpcnet", containerID: "abc", interface: "eth0")])
        #expect(run("DEL").exitCode == 0)
        #expect(try ReleaseSpool(directory: spool).pending().count == 1, "a repeated DEL overwrites its own spool file")
        let mode = try FileManager.default.attributesOfItem(atPath: spool)[.posixPermissions] as? Int
        #expect(mode == 0o700)
    }

    @Test func checkNeedsAPreviousResultAndVersion040() {
        #expect(run("CHECK", version: "0.3.1").output.contains("\"code\":1"))
        #expect(run("CHECK").output.contains("\"code\":7"), "no prevResult")
        let outcome = run("CHECK", extra: ",\"prevResult\":{\"ips\":[{\"address\":\"10.0.1.5/20\"}]}")
        #expect(outcome.exitCode == 0 && daemon.requests == ["check 10.0.1.5"])
    }

    @Test func gcAndStatusNeedVersion110() {
        #expect(run("GC", extra: ",\"cni.dev/valid-attachments\":[]").output.contains("\"code\":1"))
        let gc = run("GC", version: "1.1.0", extra: ",\"cni.dev/valid-attachments\":[{\"containerID\":\"keep\",\"ifname\":\"eth0\"}]")
        #expect(gc.exitCode == 0 && daemon.requests == ["gc [\"keep\"]"])
        #expect(run("STATUS", version: "1.1.0").exitCode == 0)
        daemon.failure = .unreachable("gone")
        #expect(run("STATUS", version: "1.1.0").output.contains("\"code\":50"))
    }

    @Test func versionAnswersInTheVersionAsked() {
        let outcome = IPAMPlugin(backend: { _ in ScriptedDaemon() }).run(environment: ["CNI_COMMAND": "VERSION"], stdin: Array("{\"cniVersion\":\"0.3.1\"}".utf8))
        #expect(outcome.output == "{\"cniVersion\":\"0.3.1\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}")
        #expect(IPAMPlugin(backend: { _ in ScriptedDaemon() }).run(environment: ["CNI_COMMAND": "VERSION"], stdin: []).exitCode == 0)
    }

    @Test func theEnvironmentIsCheckedPerCommand() {
        #expect(run("ADD", environment: ["CNI_NETNS": ""]).output.contains("CNI_NETNS is required for ADD"))
        #expect(run("DEL", environment: ["CNI_NETNS": ""]).exitCode == 0, "DEL may come without a namespace")
        #expect(run("ADD", environment: ["CNI_CONTAINERID": "a\nb"]).output.contains("\"code\":4"))
    }
}
