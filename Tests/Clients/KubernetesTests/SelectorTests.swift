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
