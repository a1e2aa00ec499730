import ArgumentParser
import ClusterSim

/// What runs inside a simulated pod (the kubelet starts it on the pod's containerPorts).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Answer on TCP and UDP ports with a name and the client's address (what a simulated pod runs).",
        discussion: "vpcnet-sim serve --name web-0 --tcp 80 --udp 53")
    @Option(help: "The name to answer with (the pod's).") var name: String
    @Option(help: "A TCP port to serve (repeatable).") var tcp: [Int] = []
    @Option(help: "A UDP port to serve (repeatable).") var udp: [Int] = []
    @Option(help: "The cluster's state directory, named so `vpcnet-sim down` finds a server that outlived it.") var owner: String?

    func validate() throws {
        guard !tcp.isEmpty || !udp.isEmpty else { throw ValidationError("give at least one --tcp or --udp port") }
        for port in tcp + udp where !(1...65_535).contains(port) { throw ValidationError("\(port) is not a port (1…65535)") }
    }

    func run() async throws { try await PodServer.serve(name: name, tcp: tcp, udp: udp) }
}

/// The client: `vpcnet-sim exec POD -- vpcnet-sim ask 10.0.1.7:80` prints who answered.
struct AskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask", abstract: "Connect to HOST:PORT (or send a UDP datagram) and print the answer of a simulated pod.",
        discussion: "vpcnet-sim exec --state-dir DIR client-0 -- vpcnet-sim ask 10.0.1.7:80")
    @Argument(help: "HOST:PORT") var target: String
    @Flag(help: "UDP instead of TCP.") var udp = false
    @Option(help: "Seconds to wait for the answer.") var timeout = 3.0
    @Option(help: "Hold the TCP connection this many seconds, exchanging a line every 0.2 s; fail if an echo is late or it breaks.")
    var hold: Double?

    func run() async throws {
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]), (1...65_535).contains(port) else {
            throw ValidationError("expected HOST:PORT, got \(target)")
        }
        let host = String(target[..<colon]), timeout = Duration.milliseconds(Int(timeout * 1000))
        guard let hold else {
            print(try await PodServer.ask(host: host, port: port, udp: udp, timeout: timeout))
            return
        }
        guard !udp, hold > 0 else { throw ValidationError("--hold is for TCP, and takes a positive number of seconds") }
        let held = try await PodServer.hold(host: host, port: port, duration: .milliseconds(Int(hold * 1000)), interval: .milliseconds(200),
                                            timeout: timeout)
        print("\(held.answer), held for \(hold) s: \(held.echoes) echoes")
    }
}
