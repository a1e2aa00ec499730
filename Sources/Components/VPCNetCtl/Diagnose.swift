import Foundation
import Kubernetes
import Subprocess
import VPCNetContracts
import VPCNetCore

/// `vpcnetctl diagnose`: what a bug report needs from one node, as a directory of files (then a
/// tarball). Every item is collected independently: one that fails is noted in `SUMMARY.txt` and
/// the rest still arrive.
public struct Diagnose: Sendable {
    public var endpoint = StatusReport.defaultEndpoint
    public var nodeName: String?
    public var kube: KubeClient?
    public var stateDirectory = WellKnown.Paths.stateDirectory
    /// The IPAM socket, whose directory holds the allocations.
    public var socketPath = WellKnown.Paths.ipamSocket
    public var cniConfDirectory = WellKnown.Paths.cniConfDirectory
    /// Run the kernel commands in this network namespace (a simulated node); nil: our own.
    public var namespacePath: String?

    public init() {}

    /// Collects into `directory` (which must exist) and returns the summary's lines.
    public func collect(into directory: String) async -> [String] {
        var summary: [String] = []
        func note(_ item: String, _ outcome: Result<String, any Error>) {
            switch outcome {
            case .success(let text):
                do {
                    try AtomicFile.write(Array(text.utf8), to: "\(directory)/\(item)", mode: 0o600)
                    summary.append("ok      \(item)")
                } catch {
                    summary.append("FAILED  \(item): cannot write: \(error)")
                }
            case .failure(let error):
                summary.append("FAILED  \(item): \(error)")
            }
        }

        var node = nodeName
        do {
            let (raw, status) = try await StatusReport.fetch(endpoint: endpoint)
            node = node ?? status.nodeName
            note("status.json", .success(String(decoding: raw, as: UTF8.self)))
        } catch {
            note("status.json", .failure(error))
        }

        let commands: [(String, [String])] = [
            ("links.txt", ["ip", "-d", "link", "show"]),
            ("addresses.txt", ["ip", "-4", "address", "show"]),
            ("rules.txt", ["ip", "-4", "rule", "show"]),
            ("routes.txt", ["ip", "-4", "route", "show", "table", "all"]),
            ("neighbours.txt", ["ip", "-4", "neighbour", "show"]),
            ("iptables-nft.txt", ["iptables-nft-save"]),
            ("iptables-legacy.txt", ["iptables-legacy-save"]),
            ("sysctls.txt", ["sysctl", "-r", #"^net\.ipv4\.(ip_forward|conf\.[^.]+\.(rp_filter|proxy_arp|accept_local|forwarding))$"#, "-a"]),
        ]
        for (item, command) in commands { note(item, await run(command)) }

        for file in ["host.json", "cni-installed.json"] {
            note("state-\(file)", read("\(stateDirectory)/\(file)"))
        }
        let allocations = WellKnown.Paths.allocationsFile(socketPath: socketPath), legacy = "\(stateDirectory)/ipam.json"
        note("state-ipam.json", read(FileManager.default.fileExists(atPath: legacy) ? legacy : allocations))
        let conf = (try? FileManager.default.contentsOfDirectory(atPath: cniConfDirectory)) ?? []
        if conf.isEmpty { summary.append("FAILED  cni-conf: \(cniConfDirectory) is empty or unreadable") }
        for file in conf.sorted() where file.hasSuffix(".conf") || file.hasSuffix(".conflist") || file.hasSuffix(".json") {
            note("cni-conf-\(file)", read("\(cniConfDirectory)/\(file)"))
        }

        if let kube, let node {
            do {
                let object = try await kube.get(Node.self, name: node)
                note("node.json", .success(object.raw.serialized() + "\n"))
            } catch {
                note("node.json", .failure(error))
            }
            do {
                let events = try await kube.list(Event.self, fieldSelector: "involvedObject.name=\(node)").items
                let lines = events.map { event in
                    let raw = event.raw
                    let when = raw["lastTimestamp"]?.stringValue ?? raw["eventTime"]?.stringValue ?? raw.value(at: "metadata.creationTimestamp")?.stringValue ?? ""
                    return [when, raw["type"]?.stringValue ?? "", raw["reason"]?.stringValue ?? "",
                            "x\(raw["count"].map { $0.serialized() } ?? "1")", raw.value(at: "source.component")?.stringValue ?? "",
                            raw["message"]?.stringValue ?? ""].joined(separator: "  ")
                }.sorted()
                note("events.txt", .success(lines.joined(separator: "\n") + "\n"))
            } catch {
                note("events.txt", .failure(error))
            }
        } else {
            summary.append("skipped node.json, events.txt: \(node == nil ? "no node name (--node or NODE_NAME)" : "no Kubernetes access (--kubeconfig, KUBECONFIG or in-cluster)")")
        }
        let header = ["vpcnet diagnose of \(node ?? "an unknown node") at \(Date().formatted(.iso8601))", ""]
        note("SUMMARY.txt", .success((header + summary).joined(separator: "\n") + "\n"))
        return summary
    }

    func run(_ command: [String]) async -> Result<String, any Error> {
        let full = namespacePath.map { ["nsenter", "--net=\($0)", "--"] + command } ?? command
        do {
            let result = try await Subprocess.run(.name(full[0]), arguments: Arguments(Array(full.dropFirst())),
                                                  output: .string(limit: 1 << 24), error: .string(limit: 1 << 16))
            guard case .exited(0) = result.terminationStatus else {
                return .failure(UsageError("\(command.joined(separator: " ")): \(result.terminationStatus) \(result.standardError)"))
            }
            return .success(result.standardOutput)
        } catch {
            return .failure(UsageError("\(command[0]): \(error)"))
        }
    }

    func read(_ path: String) -> Result<String, any Error> {
        do {
            guard let bytes = try AtomicFile.read(path) else { return .failure(UsageError("\(path) does not exist")) }
            return .success(String(decoding: bytes, as: UTF8.self))
        } catch {
            return .failure(error)
        }
    }
}
