#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import VPCNetContracts
import VPCNetCore

public enum CNICommand: String, Sendable, CaseIterable {
    case add = "ADD", del = "DEL", check = "CHECK", version = "VERSION", gc = "GC", status = "STATUS"
}

/// The runtime's environment for one invocation (`CNI_*` variables), validated per command.
public struct CNIEnvironment: Sendable, Hashable {
    public var command: CNICommand
    public var containerID: String
    public var networkNamespace: String
    public var interface: String
    /// `CNI_ARGS`: `K8S_POD_NAMESPACE=…;K8S_POD_NAME=…;…`.
    public var arguments: [String: String]

    public init(variables: [String: String]) throws(CNIError) {
        guard let text = variables["CNI_COMMAND"], !text.isEmpty else {
            throw CNIError(.invalidEnvironment, "CNI_COMMAND is not set")
        }
        guard let command = CNICommand(rawValue: text) else {
            throw CNIError(.invalidEnvironment, "unknown CNI_COMMAND \(text)", details: "known: \(CNICommand.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.command = command
        containerID = variables["CNI_CONTAINERID"] ?? ""
        networkNamespace = variables["CNI_NETNS"] ?? ""
        interface = variables["CNI_IFNAME"] ?? ""
        var required: [(String, String)] = []
        switch command {
        case .add, .check: required = [("CNI_CONTAINERID", containerID), ("CNI_NETNS", networkNamespace), ("CNI_IFNAME", interface)]
        case .del: required = [("CNI_CONTAINERID", containerID), ("CNI_IFNAME", interface)]
        case .version, .gc, .status: break
        }
        for (name, value) in required where value.isEmpty {
            throw CNIError(.invalidEnvironment, "\(name) is required for \(command.rawValue)")
        }
        if command == .add || command == .check || command == .del {
            guard containerID.utf8.count <= 1024, !containerID.contains(where: { $0.isNewline || $0 == "\u{0}" }) else {
                throw CNIError(.invalidEnvironment, "CNI_CONTAINERID is not a container ID")
            }
        }
        arguments = [:]
        for pair in (variables["CNI_ARGS"] ?? "").split(separator: ";") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else { throw CNIError(.invalidEnvironment, "CNI_ARGS: expected KEY=VALUE, got \"\(pair)\"") }
            arguments[String(parts[0])] = String(parts[1])
        }
    }
}
