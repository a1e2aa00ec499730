import Foundation
@testable import HostNetwork
import Subprocess
import Testing
import VPCNetCore
import VPCNetSettings

/// Runs a command inside a network namespace (`ip netns exec`), feeding `input`; returns stdout.
@discardableResult
func inNamespace(_ namespace: String, _ arguments: [String], input: String = "") async throws -> String {
    let result = try await Subprocess.run(.name("ip"), arguments: Arguments(["netns", "exec", namespace] + arguments),
                                          input: .string(input), output: .string(limit: 1 << 22), error: .string(limit: 1 << 16))
    guard case .exited(0) = result.terminationStatus else {
        throw IPTablesTestError(description: "\(arguments.joined(separator: " ")): \(result.standardError)")
    }
    return result.standardOutput
}

struct IPTablesTestError: Error, CustomStringConvertible { var description: String }

/// vpcnet's chains through the real `iptables-restore` / `iptables-save` (whichever backend the
/// host uses), in a throwaway network namespace.
@Suite(.enabled(if: getuid() == 0, "iptables tests need root (network namespaces); CI runs them as root"))
struct IPTablesRootTests {
    @Test(arguments: [DatapathConfiguration.MetadataAccess.blocked, .redirected(port: 8181), .allowed])
    func rulesConvergeRepairAndUninstall(metadata: DatapathConfiguration.MetadataAccess) async throws {
        let namespace = "vpcnet-ipt-\(UInt32.random(in: 0...UInt32.max))"
        _ = try await Subprocess.run(.name("ip"), arguments: ["netns", "add", namespace], output: .discarded)
        do {
            try await check(namespace: namespace, metadata: metadata)
        } catch {
            _ = try? await Subprocess.run(.name("ip"), arguments: ["netns", "del", namespace], output: .discarded)
            throw error
        }
        _ = try await Subprocess.run(.name("ip"), arguments: ["netns", "del", namespace], output: .discarded)
    }

    func check(namespace: String, metadata: DatapathConfiguration.MetadataAccess) async throws {
        // Someone else's rules, which must survive everything vpcnet does.
        try await inNamespace(namespace, ["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "192.168.0.0/16", "-j", "MASQUERADE"])

        var configuration = DatapathConfiguration()
        configuration.metadata = metadata
        let rules = DatapathPlan(record: try DatapathPlanTests.record(), configuration: configuration, primaryInterface: "ens5").iptables
        let save = { try await inNamespace(namespace, ["iptables-save"]) }

        let batch = try #require(rules.restoreInput(current: try await save()))
        try await inNamespace(namespace, ["iptables-restore", "--noflush"], input: batch)
        #expect(rules.restoreInput(current: try await save()) == nil, "what iptables-save reports is exactly what was written")
        #expect(try await save().components(separatedBy: "-j VPCNET-SNAT").count == 2, "one jump")

        // A rule deleted by hand is noticed and put back.
        try await inNamespace(namespace, ["iptables", "-t", "nat", "-D", "VPCNET-SNAT", "-d", "10.0.0.0/16", "-m", "comment",
                                          "--comment", "vpcnet: VPC", "-j", "RETURN"])
        let repair = try #require(rules.restoreInput(current: try await save()))
        #expect(!repair.contains("-A POSTROUTING"), "the jump is still there: not added twice")
        try await inNamespace(namespace, ["iptables-restore", "--noflush"], input: repair)
        #expect(rules.restoreInput(current: try await save()) == nil)
        #expect(try await save().components(separatedBy: "-j VPCNET-SNAT").count == 2, "still one jump")

        let removal = try #require(IPTablesRules.removalInput(current: try await save()))
        try await inNamespace(namespace, ["iptables-restore", "--noflush"], input: removal)
        let after = try await save()
        #expect(!after.contains("VPCNET"), "\(after)")
        #expect(after.contains("-A POSTROUTING -s 192.168.0.0/16 -j MASQUERADE"))
    }
}
