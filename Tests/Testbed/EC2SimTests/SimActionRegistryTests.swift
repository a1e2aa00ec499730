import AWSEC2
@testable import EC2Sim
import Foundation
import Testing

/// The registry serves every action vpcnet's client sends, and the testbed's own; nothing else.
@Suite struct SimActionRegistryTests {
    @Test func everyClientActionAndTestbedActionHasAHandler() {
        let expected = Set(EC2Action.allCases.map(SimAction.client) + SimAction.TestbedAction.allCases.map(SimAction.testbed))
        #expect(Set(SimActions.handlers.keys) == expected)
        for action in expected { #expect(SimAction(rawValue: action.rawValue) == action) }
        #expect(SimAction(rawValue: "DescribeAddresses") == nil)
    }

    @Test func anUnknownActionIsRefusedAsEC2Does() async {
        let simulator = EC2Simulator(configuration: .init(verifySignatures: false))
        let body = QueryForm.encode([("Action", "DescribeAddresses"), ("Version", "2016-11-15")])
        let response = await simulator.handle(method: "POST", url: URL(string: "http://127.0.0.1/")!, headers: [], body: Array(body.utf8))
        #expect(response.status == 400 && response.body.contains("<Code>InvalidAction</Code>"))
    }
}
