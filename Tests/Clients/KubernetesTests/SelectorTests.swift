import Kubernetes
import Testing
import VPCNetCore

@Suite struct SelectorTests {
    let labels = ["app": "web", "tier": "frontend", "k8s-vpcnet/instance-id": "i-0123456789abcdef0", "empty": ""]

    @Test(arguments: [
        ("", true), ("app", true), ("!app", false), ("!missing", true), ("app=web", true), ("app==web", true), ("app=db", false),
        ("app!=db", true), ("missing!=x", true), ("app in (web, api)", true), ("app in (api)", false), ("app notin (api)", true),
        ("missing notin (x)", true), ("missing in (x)", false), ("app=web,tier=frontend", true), ("app=web,tier=backend", false),
        ("k8s-vpcnet/instance-id=i-0123456789abcdef0", true), ("empty=", true), ("tier in (frontend),app", true),
    ])
    func labelSelectorsMatchAsKubernetesDoes(selector: String, expected: Bool) throws {
        #expect(try LabelSelector(parsing: selector).matches(labels) == expected)
    }

    @Test(arguments: ["app in web", "app in (a", "-bad=x", "a/b/c=x", "app=bad value", "app=" + String(repeating: "x", count: 64), "=x"])
    func badLabelSelectorsAreErrors(selector: String) {
        #expect(throws: SelectorError.self) { try LabelSelector(parsing: selector) }
    }

    @Test func theAPIsObjectFormMeansWhatItsStringFormDoes() throws {
        let selector = try LabelSelector(matchLabels: ["app": "web"], matchExpressions: [
            ["key": "tier", "operator": "In", "values": ["frontend", "api"]], ["key": "legacy", "operator": "DoesNotExist"],
            ["key": "app", "operator": "Exists"], ["key": "tier", "operator": "NotIn", "values": ["db"]],
        ])
        #expect(selector.description == "app=web,tier in (api,frontend),!legacy,app,tier notin (db)")
        let reparsed = try LabelSelector(parsing: selector.description)
        #expect(selector.matches(labels) && reparsed.matches(labels))
        let other = try LabelSelector(matchExpressions: [["key": "tier", "operator": "In", "values": ["db"]]])
        #expect(!other.matches(labels))
        #expect(throws: SelectorError.self) { try LabelSelector(matchExpressions: [["key": "cpus", "operator": "Gt", "values": ["4"]]]) }
    }

    @Test func fieldSelectors() throws {
        let pod: JSONValue = ["metadata": ["name": "web-1", "namespace": "default"], "spec": ["nodeName": "node-1"],
                              "status": ["phase": "Running"]]
        #expect(try FieldSelector(parsing: "spec.nodeName=node-1").matches(pod))
        #expect(try FieldSelector(parsing: "metadata.name=web-1,status.phase!=Failed").matches(pod))
        #expect(try !FieldSelector(parsing: "spec.nodeName=node-2").matches(pod))
        #expect(try FieldSelector(parsing: "spec.schedulerName=").matches(pod), "a missing field is the empty string")
        #expect(throws: SelectorError.self) { try FieldSelector(parsing: "spec.nodeName") }
    }
}
