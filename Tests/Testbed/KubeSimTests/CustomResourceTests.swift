@testable import KubeSim
import Testing
import VPCNetCore

/// Custom resources as the API server treats them: schemas default, prune and check; definitions
/// are checked before they serve anything. (kubectl's view of the same is Tests/peers/test_kubesim_crds.py.)
@Suite struct CustomResourceTests {
    let schema: JSONValue = [
        "type": "object",
        "properties": [
            "spec": [
                "type": "object", "required": ["groups"],
                "properties": [
                    "groups": ["type": "array", "minItems": 1, "items": ["type": "string", "pattern": "^sg-[0-9a-f]+$"]],
                    "count": ["type": "integer", "minimum": 1, "maximum": 15, "default": 1],
                    "mode": ["type": "string", "enum": ["on", "off"], "default": "off"],
                    "tags": ["type": "object", "additionalProperties": ["type": "string", "maxLength": 4]],
                    "free": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                ],
            ],
        ],
    ]

    @Test func defaultsFillAndUnknownFieldsArePrunedAndNamed() {
        let object: JSONValue = ["apiVersion": "x.io/v1", "kind": "X", "metadata": ["name": "a"],
                                 "spec": ["groups": ["sg-1"], "color": "blue", "free": ["any": ["thing": 1]]], "extra": 1]
        let outcome = StructuralSchema.check(object, schema: schema)
        #expect(outcome.problems.isEmpty)
        #expect(outcome.unknown == ["extra", "spec.color"])
        #expect(outcome.object["spec"] == ["groups": ["sg-1"], "count": 1, "mode": "off", "free": ["any": ["thing": 1]]])
        #expect(outcome.object["metadata"] == ["name": "a"] && outcome.object["extra"] == nil)
    }

    @Test func everyProblemIsReportedWithItsPathAndTheServersWording() {
        let object: JSONValue = ["spec": ["groups": ["web", 7], "count": 0, "mode": "sometimes", "tags": ["tier": "database"]]]
        let problems = StructuralSchema.check(object, schema: schema).problems
        #expect(problems.contains("spec.groups[0]: Invalid value: \"web\": spec.groups[0] in body should match '^sg-[0-9a-f]+$'"))
        #expect(problems.contains("spec.groups[1]: Invalid value: \"integer\": spec.groups[1] in body must be of type string: \"integer\""))
        #expect(problems.contains("spec.count: Invalid value: 0: spec.count in body should be greater than or equal to 1"))
        #expect(problems.contains("spec.mode: Unsupported value: \"sometimes\": supported values: \"on\", \"off\""))
        #expect(problems.contains("spec.tags.tier: Too long: may not be more than 4 bytes"))
        #expect(problems.count == 5, "\(problems)")
        #expect(StructuralSchema.check(["spec": ["groups": []]], schema: schema).problems
            == ["spec.groups: Invalid value: 0: spec.groups in body should have at least 1 items"])
        #expect(StructuralSchema.check(["spec": [:]], schema: schema).problems == ["spec.groups: Required value"])
    }

    @Test func aSchemaWithKeywordsThisServerCannotCheckIsRefused() {
        let unsupported: JSONValue = ["type": "object", "properties": ["spec": ["type": "object", "x-kubernetes-validations": [], "oneOf": []],
                                                                     "untyped": ["description": "no type"]]]
        #expect(StructuralSchema.problems(of: unsupported, path: "s").sorted() == [
            "s.properties[spec].oneOf: Forbidden: not supported by this API server",
            "s.properties[spec].x-kubernetes-validations: Forbidden: not supported by this API server",
            "s.properties[untyped].type: Required value: must not be empty for specified object fields",
        ])
    }

    func definition(name: String = "widgets.example.com", group: String = "example.com", versions: JSONValue? = nil) -> JSONValue {
        ["metadata": ["name": .string(name)],
         "spec": ["group": .string(group), "scope": "Cluster", "names": ["plural": "widgets", "kind": "Widget", "shortNames": ["wd"]],
                  "versions": versions ?? [["name": "v1", "served": true, "storage": true, "schema": ["openAPIV3Schema": schema],
                                            "subresources": ["status": [:]],
                                            "additionalPrinterColumns": [["name": "Count", "type": "integer", "jsonPath": ".spec.count"]]]]]]
    }

    @Test func aGoodDefinitionServesItsVersionsAndIsEstablished() {
        var crd = definition()
        #expect(CustomResourceDefinitions.problems(crd, old: nil).isEmpty)
        CustomResourceDefinitions.admit(&crd, old: nil, now: "2026-12-05T00:00:00Z")
        #expect(crd.value(at: "spec.names.listKind") == "WidgetList" && crd.value(at: "spec.names.singular") == "widget")
        #expect(crd.value(at: "status.storedVersions") == ["v1"])
        #expect(crd.value(at: "status.conditions")?.arrayValue?.map { $0["type"] } == ["NamesAccepted", "Established"])
        var again = crd
        CustomResourceDefinitions.admit(&again, old: crd, now: "2026-12-06T00:00:00Z")
        #expect(again == crd, "an unchanged definition written again is unchanged: conditions keep their transition time")
        let served = CustomResourceDefinitions.servedResources(crd)
        #expect(served.map(\.storeKey) == ["widgets.example.com"] && served.first?.namespaced == false)
        #expect(served.first?.subresources == ["status"] && served.first?.shortNames == ["wd"])
    }

    @Test func badDefinitionsNameTheFieldAtFault() {
        let twoStorage: JSONValue = [["name": "v1", "served": true, "storage": true, "schema": ["openAPIV3Schema": schema]],
                                     ["name": "v2", "served": true, "storage": true, "schema": ["openAPIV3Schema": schema]]]
        #expect(CustomResourceDefinitions.problems(definition(versions: twoStorage), old: nil)
            == ["spec.versions: Invalid value: 2: must have exactly one version marked as storage version"])
        #expect(CustomResourceDefinitions.problems(definition(name: "gadgets.example.com"), old: nil)
            == ["metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group"])
        let noSchema: JSONValue = [["name": "v1", "served": true, "storage": true]]
        #expect(CustomResourceDefinitions.problems(definition(versions: noSchema), old: nil)
            == ["spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"])
        var moved = definition()
        moved["spec"]?["scope"] = "Namespaced"
        #expect(CustomResourceDefinitions.problems(moved, old: definition()) == ["spec.scope: Invalid value: \"Namespaced\": field is immutable"])
    }

    @Test func generationCountsChangesOutsideMetadataAndStatus() {
        var object: JSONValue = ["metadata": ["name": "a"], "spec": ["count": 1]]
        CustomResourceDefinitions.countGeneration(&object, old: nil)
        #expect(object.value(at: "metadata.generation") == 1)
        var relabelled = object
        relabelled["metadata"]?["labels"] = ["a": "b"]
        relabelled["status"] = ["nodes": 3]
        CustomResourceDefinitions.countGeneration(&relabelled, old: object)
        #expect(relabelled.value(at: "metadata.generation") == 1)
        var changed = relabelled
        changed["spec"] = ["count": 2]
        CustomResourceDefinitions.countGeneration(&changed, old: relabelled)
        #expect(changed.value(at: "metadata.generation") == 2)
    }

    @Test func printerColumnPathsReadFieldsAndIndexes() {
        let object: JSONValue = ["status": ["conditions": [["status": "True"]]], "spec": ["groups": ["sg-1", "sg-2"]]]
        #expect(JSONPath(".status.conditions[0].status")?.value(in: object) == "True")
        #expect(JSONPath(".spec.groups[1]")?.value(in: object) == "sg-2")
        #expect(JSONPath(".spec.groups[5]")?.value(in: object) == JSONValue?.none, "past the end: no value, not null")
        #expect(JSONPath("status") == nil && JSONPath(".a[x]") == nil)
    }
}
