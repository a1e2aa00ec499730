import AWSEC2
import Foundation
import TestSupport
import Testing

/// `deploy/iam-policy.json` grants exactly the actions the EC2 client's operations send, and
/// every mutating one only on ENIs tagged with the cluster.
@Suite struct IAMPolicyTests {
    struct Statement {
        var sid: String
        var actions: Set<String>
        var resources: [String]
        var condition: [String: [String: String]]
    }

    static func statements() throws -> [Statement] {
        let data = try Data(contentsOf: Repository.root.appending(path: "deploy/iam-policy.json"))
        let policy = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let list = try #require(policy["Statement"] as? [[String: Any]])
        func strings(_ value: Any?) -> [String] { (value as? [String]) ?? ((value as? String).map { [$0] } ?? []) }
        return list.map { entry in
            Statement(sid: entry["Sid"] as? String ?? "", actions: Set(strings(entry["Action"])), resources: strings(entry["Resource"]),
                      condition: entry["Condition"] as? [String: [String: String]] ?? [:])
        }
    }

    @Test func grantsExactlyTheClientsActions() throws {
        let granted = Set(try Self.statements().flatMap(\.actions))
        #expect(granted == Set(EC2Action.allCases.map { "ec2:" + $0.rawValue }))
        #expect(try Self.statements().allSatisfy { $0.resources.allSatisfy { !$0.contains("*:*:*") } })
    }

    @Test func everyActionIsSentByAnOperation() throws {
        let operations = try String(contentsOf: Repository.root.appending(path: "Sources/Clients/AWSEC2/EC2Operations.swift"), encoding: .utf8)
        for action in EC2Action.allCases {
            let name = "\(action)"
            #expect(operations.contains("(.\(name),"), "no operation sends \(action.rawValue); drop it from EC2Action and the policy")
        }
    }

    @Test func mutatingActionsTouchOnlyTheClustersENIs() throws {
        for statement in try Self.statements() {
            for action in statement.actions {
                let name = String(action.dropFirst("ec2:".count))
                let mutating = try #require(EC2Action(rawValue: name)).isMutating
                if !mutating {
                    #expect(statement.resources == ["*"])
                    continue
                }
                #expect(!statement.resources.contains("*"), "\(statement.sid): \(action) on every resource")
                guard statement.resources.contains(where: { $0.hasSuffix(":network-interface/*") }) else { continue }
                // Which ENIs: existing ones by their tag; new ones (and their tags) by the tag in the request.
                let key = name == "CreateNetworkInterface" || name == "CreateTags" ? "aws:RequestTag/k8s-vpcnet/cluster" : "aws:ResourceTag/k8s-vpcnet/cluster"
                #expect(statement.condition["StringEquals"]?[key] == "CLUSTER_NAME", "\(statement.sid): \(action) on ENIs without \(key)")
                #expect(statement.resources == ["arn:aws:ec2:*:*:network-interface/*"], "\(statement.sid): the tag condition must scope only ENIs")
            }
        }
    }
}
