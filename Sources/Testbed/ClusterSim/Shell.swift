import Foundation
import Subprocess

/// A command that failed, with what it printed.
public struct CommandError: Error, CustomStringConvertible {
    public var command: String
    public var status: String
    public var output: String
    public var description: String { "\(command): \(status) \(output)" }
}

/// Runs commands for the simulator's plumbing (namespaces, veths, the fabric's iptables). The
/// simulator is a test rig, not the product: it uses `ip` and `iptables-restore` like a person
/// would, while vpcnet's own datapath goes through netlink.
enum Shell {
    @discardableResult
    static func run(_ arguments: [String], input: String = "", environment: [String: String]? = nil) async throws -> String {
        let env: Environment = environment.map { .inherit.updating(Dictionary(uniqueKeysWithValues: $0.map { (Environment.Key(stringLiteral: $0.key), $0.value) })) } ?? .inherit
        let result = try await Subprocess.run(.name(arguments[0]), arguments: Arguments(Array(arguments.dropFirst())), environment: env,
                                              input: .string(input), output: .string(limit: 1 << 22), error: .string(limit: 1 << 16))
        guard case .exited(0) = result.terminationStatus else {
            throw CommandError(command: arguments.joined(separator: " "), status: "\(result.terminationStatus)",
                               output: result.standardError + result.standardOutput)
        }
        return result.standardOutput
    }

    /// `ip` inside a namespace.
    @discardableResult
    static func ip(_ namespace: String, _ arguments: String...) async throws -> String {
        try await run(["ip", "-n", namespace] + arguments)
    }

    /// A command inside a namespace.
    @discardableResult
    static func inNamespace(_ namespace: String, _ arguments: [String], input: String = "") async throws -> String {
        try await run(["ip", "netns", "exec", namespace] + arguments, input: input)
    }

    static func namespaces() async throws -> [String] {
        try await run(["ip", "netns", "list"]).split(separator: "\n").map { String($0.split(separator: " ").first ?? "") }
    }
}
