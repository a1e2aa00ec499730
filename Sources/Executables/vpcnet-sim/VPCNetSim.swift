// vpcnet-sim: vpcnet on one machine. Thin: the logic lives in the EC2Sim, KubeSim and VPCSim libraries.

import ArgumentParser
import CommandSupport
import EC2Sim
import Foundation
import KubeSim

@main
struct VPCNetSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vpcnet-sim",
        abstract: "vpcnet on one machine: a simulated VPC, EC2 and Kubernetes, with vpcnet itself running for real.",
        subcommands: [UpCommand.self, AddNodeCommand.self, StatusCommand.self, ExecCommand.self, LogsCommand.self, DownCommand.self, DemoCommand.self,
                      RunCommand.self, EC2Command.self, APIServerCommand.self, ServeCommand.self, AskCommand.self])
}

struct EC2Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ec2",
        abstract: "Serve a simulated EC2 region (Query API, SigV4, EC2's limits and throttling).",
        discussion: """
            Prints one line, `listening on URL`, when ready, and serves until SIGINT or SIGTERM. \
            Without --access-key-id it accepts the AWS documentation's example keys \
            (\(EC2Simulator.testAccessKeyID) / \(EC2Simulator.testSecretAccessKey)).

            Point clients at it with AWS_ENDPOINT_URL_EC2=URL. Tests steer it through \
            /_sim/state, /_sim/faults and /_sim/throttle (see docs/ec2-simulator.md).
            """)

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free port).")
    var listen = "127.0.0.1:0"

    @Option(help: "The simulated region.")
    var region = "us-east-1"

    @Option(help: "Access key ID accepted (with --secret-access-key).")
    var accessKeyID: String?

    @Option(help: "Secret access key of --access-key-id.")
    var secretAccessKey: String?

    @Flag(help: "Accept requests without checking their SigV4 signatures.")
    var noVerifySignatures = false

    @Flag(help: "Disable request throttling (RequestLimitExceeded).")
    var noThrottle = false

    @Option(help: "Seconds an attachment stays 'attaching' before it is 'attached'.")
    var attachDelay: Double = 0

    @Option(help: "Seconds a detachment stays 'detaching' before the ENI is 'available'.")
    var detachDelay: Double = 0

    @Option(help: "Latency added to every action, in milliseconds.")
    var latencyMs: Int = 0

    @Option(help: "Random extra latency per action, up to this many milliseconds.")
    var jitterMs: Int = 0

    func validate() throws {
        guard (accessKeyID == nil) == (secretAccessKey == nil) else {
            throw ValidationError("--access-key-id and --secret-access-key go together")
        }
        guard attachDelay >= 0, detachDelay >= 0, latencyMs >= 0, jitterMs >= 0 else {
            throw ValidationError("delays and latencies cannot be negative")
        }
        _ = try hostAndPort()
    }

    func hostAndPort() throws -> (String, Int) { try listenAddress(listen) }

    func run() async throws {
        var keys = [EC2Simulator.testAccessKeyID: EC2Simulator.testSecretAccessKey]
        if let accessKeyID, let secretAccessKey { keys = [accessKeyID: secretAccessKey] }
        let latency = latencyMs + jitterMs > 0
            ? ["*": SimLatency(fixed: .milliseconds(latencyMs), jitter: .milliseconds(jitterMs))] : [:]
        let simulator = EC2Simulator(
            configuration: .init(region: region, keys: keys, verifySignatures: !noVerifySignatures,
                                 attachDelay: .milliseconds(Int64(attachDelay * 1000)), detachDelay: .milliseconds(Int64(detachDelay * 1000)),
                                 latency: latency),
            throttle: SimThrottle(enabled: !noThrottle))
        let (host, port) = try hostAndPort()
        let server = try await EC2SimServer.start(simulator, host: host, port: port)
        // One line, flushed at once: scripts wait for it before they connect.
        FileHandle.standardOutput.write(Data("listening on \(server.url.absoluteString)\n".utf8))
        onTermination { Task { await server.stop() } }
        await server.wait()
    }
}

struct APIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apiserver",
        abstract: "Serve a simulated Kubernetes API (nodes, pods, events, leases, configmaps, namespaces) for kubectl.",
        discussion: """
            Prints one line, `listening on URL`, when ready, and serves until SIGINT or SIGTERM. \
            With --kubeconfig it writes a kubeconfig for itself first: kubectl --kubeconfig FILE get nodes. \
            The /_sim/ control endpoints (faults, drop-watches, compact, tokens) need no credentials: listen on loopback.
            """)

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free port).")
    var listen = "127.0.0.1:0"

    @Option(help: "Write a kubeconfig for this server to this file.")
    var kubeconfig: String?

    @Flag(help: "Serve HTTPS with a CA generated for this run; the kubeconfig carries the CA and an admin client certificate.")
    var tls = false

    @Option(name: .customLong("token"), help: "Require this bearer token (or a client certificate); repeat for several. Default: accept anyone.")
    var tokens: [String] = []

    func validate() throws {
        _ = try listenAddress(listen)
        if tokens.contains(where: { $0.isEmpty || $0.contains(where: \.isWhitespace) }) { throw ValidationError("--token must be non-empty and without spaces") }
        // kubectl (client-go) never sends a bearer token over plain HTTP.
        if !tokens.isEmpty && !tls { throw ValidationError("--token needs --tls: kubectl sends tokens only over HTTPS") }
    }

    func run() async throws {
        let (host, port) = try listenAddress(listen)
        let api = KubeAPI(store: KubeStore(), tokens: tokens.isEmpty ? nil : Set(tokens))
        let server = try await KubeAPIServer.start(api, host: host, port: port, tls: tls)
        if let kubeconfig {
            // Written whole, then renamed, so a reader never sees half a file.
            let temporary = kubeconfig + ".tmp"
            // 0600: with --tls it holds the admin client key.
            guard FileManager.default.createFile(atPath: temporary, contents: Data(server.kubeconfig().utf8),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot write \(temporary)")
            }
            _ = rename(temporary, kubeconfig)
        }
        FileHandle.standardOutput.write(Data("listening on \(server.url.absoluteString)\n".utf8))
        onTermination { Task { await server.stop() } }
        await server.wait()
    }
}
