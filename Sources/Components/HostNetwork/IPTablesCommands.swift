import Subprocess
import VPCNetCore
import VPCNetSettings

extension IPTablesBackend {
    var saveCommand: String { "iptables-\(rawValue)-save" }
    var restoreCommand: String { "iptables-\(rawValue)-restore" }

    /// The backend the host's other tools use, chosen the way Kubernetes' iptables-wrapper does:
    /// the backend holding the kubelet's marker chains wins; otherwise the one with more rules;
    /// nf_tables on a tie (a fresh host). `saves` holds each available backend's `iptables-save`.
    public static func choose(saves: [IPTablesBackend: String]) -> IPTablesBackend {
        let markers = [":KUBE-IPTABLES-HINT", ":KUBE-KUBELET-CANARY"]
        let marked = IPTablesBackend.allCases.filter { backend in
            guard let save = saves[backend] else { return false }
            return markers.contains { save.contains($0) }
        }
        if marked.count == 1 { return marked[0] }
        func ruleCount(_ backend: IPTablesBackend) -> Int {
            saves[backend].map { $0.split(separator: "\n").count { $0.hasPrefix("-A ") } } ?? -1
        }
        return ruleCount(.legacy) > ruleCount(.nft) ? .legacy : .nft
    }

    /// Reads both backends' rules (where installed) and chooses.
    public static func detect(namespacePath: String?) async throws -> IPTablesBackend {
        var saves: [IPTablesBackend: String] = [:]
        for backend in allCases {
            if let save = try? await IPTablesCommands(backend: backend, namespacePath: namespacePath).save() { saves[backend] = save }
        }
        guard !saves.isEmpty else { throw IPTablesError(command: "iptables-save", status: "neither iptables-nft-save nor iptables-legacy-save runs") }
        return choose(saves: saves)
    }
}

/// `iptables-save` and `iptables-restore --noflush` of one backend, in one network namespace.
public struct IPTablesCommands: Sendable {
    public var backend: IPTablesBackend
    public var namespacePath: String?

    public init(backend: IPTablesBackend, namespacePath: String? = nil) {
        self.backend = backend
        self.namespacePath = namespacePath
    }

    public func save() async throws -> String {
        var text = ""
        // Only the tables vpcnet writes: a full save also loads modules for tables nobody uses.
        for table in ["filter", "mangle", "nat"] { text += try await run(backend.saveCommand, ["-t", table]) }
        return text
    }

    public func restore(_ input: String) async throws {
        // `-w`: wait for the xtables lock (legacy backend) instead of failing when kube-proxy holds it.
        _ = try await run(backend.restoreCommand, ["--noflush", "-w", "5"], input: input)
    }

    private func run(_ command: String, _ arguments: [String], input: String = "") async throws -> String {
        let (executable, fullArguments): (String, [String]) = if let namespacePath {
            ("nsenter", ["--net=\(namespacePath)", "--", command] + arguments)
        } else {
            (command, arguments)
        }
        let result = try await Subprocess.run(.name(executable), arguments: Arguments(fullArguments), input: .string(input),
                                              output: .string(limit: 1 << 24), error: .string(limit: 1 << 16))
        guard case .exited(0) = result.terminationStatus else {
            throw IPTablesError(command: ([command] + arguments).joined(separator: " "),
                                status: "\(result.terminationStatus): \(result.standardError)")
        }
        return result.standardOutput
    }
}

public struct IPTablesError: Error, CustomStringConvertible {
    public var command: String
    public var status: String
    public var description: String { "\(command) failed: \(status)" }
}
