import Kubernetes
import Synchronization
import VPCNetCore

/// What a CustomResourceDefinition says of one served version of its resource.
struct CustomResource: Sendable {
    /// The version's `schema.openAPIV3Schema` (structural, as `apiextensions.k8s.io/v1` requires).
    var schema: JSONValue
    /// `additionalPrinterColumns`: `name`, `type`, `jsonPath`, `priority`, `format`, `description`.
    var printerColumns: [JSONValue]
    var categories: [String]
    var isStorage: Bool
}

/// `apiextensions.k8s.io/v1` CustomResourceDefinitions: the API server's checks of one
/// (`ValidateCustomResourceDefinition`'s common rules, with its field paths), the status its
/// establishing controller writes, and the resources it adds to the catalog.
enum CustomResourceDefinitions {
    static let resource = "customresourcedefinitions"

    /// The resources a definition serves: one per served version.
    static func servedResources(_ crd: JSONValue) -> [APIResource] {
        guard let group = crd.value(at: "spec.group")?.stringValue, let plural = crd.value(at: "spec.names.plural")?.stringValue,
              let kind = crd.value(at: "spec.names.kind")?.stringValue else { return [] }
        let names = crd.value(at: "spec.names")
        let strings = { (key: String) in names?[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        return (crd.value(at: "spec.versions")?.arrayValue ?? []).compactMap { version in
            guard version["served"]?.boolValue == true, let name = version["name"]?.stringValue,
                  let schema = version.value(at: "schema.openAPIV3Schema") else { return nil }
            var subresources: [String] = []
            if version.value(at: "subresources.status") != nil { subresources.append("status") }
            return APIResource(name: plural, singular: names?["singular"]?.stringValue ?? kind.lowercased(), kind: kind, group: group,
                               version: name, namespaced: crd.value(at: "spec.scope")?.stringValue != "Cluster",
                               shortNames: strings("shortNames"), subresources: subresources,
                               custom: CustomResource(schema: schema, printerColumns: version["additionalPrinterColumns"]?.arrayValue ?? [],
                                                      categories: strings("categories"), isStorage: version["storage"]?.boolValue == true))
        }
    }

    /// The definition's problems, each with its field path; `old` is the stored one on an update.
    static func problems(_ crd: JSONValue, old: JSONValue?) -> [String] {
        var problems: [String] = []
        let group = crd.value(at: "spec.group")?.stringValue ?? ""
        let plural = crd.value(at: "spec.names.plural")?.stringValue ?? ""
        if group.isEmpty { problems.append("spec.group: Required value") } else if !KubeValidation.isSubdomain(group) || !group.contains(".") {
            problems.append("spec.group: Invalid value: \"\(group)\": should be a domain with at least one dot")
        }
        if plural.isEmpty { problems.append("spec.names.plural: Required value") } else if !isLabel(plural) {
            problems.append("spec.names.plural: Invalid value: \"\(plural)\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'")
        }
        if let name = crd.value(at: "metadata.name")?.stringValue, name != "\(plural).\(group)" {
            problems.append("metadata.name: Invalid value: \"\(name)\": must be spec.names.plural+\".\"+spec.group")
        }
        for key in ["kind", "listKind"] {
            guard let kind = crd.value(at: "spec.names.\(key)")?.stringValue else {
                if key == "kind" { problems.append("spec.names.kind: Required value") }
                continue
            }
            if kind.first?.isUppercase != true || !kind.allSatisfy({ $0.isLetter || $0.isNumber }) {
                problems.append("spec.names.\(key): Invalid value: \"\(kind)\": may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?")
            }
        }
        let scope = crd.value(at: "spec.scope")?.stringValue ?? ""
        if !["Namespaced", "Cluster"].contains(scope) {
            problems.append(scope.isEmpty ? "spec.scope: Required value" : "spec.scope: Unsupported value: \"\(scope)\": supported values: \"Cluster\", \"Namespaced\"")
        }
        if let old, old.value(at: "spec.scope") != crd.value(at: "spec.scope") { problems.append("spec.scope: Invalid value: \"\(scope)\": field is immutable") }
        if let old, old.value(at: "spec.group") != crd.value(at: "spec.group") { problems.append("spec.group: Invalid value: \"\(group)\": field is immutable") }
        let versions = crd.value(at: "spec.versions")?.arrayValue ?? []
        if versions.isEmpty { problems.append("spec.versions: Invalid value: null: must have exactly one version marked as storage version") }
        let storageVersions = versions.count(where: { $0["storage"]?.boolValue == true })
        if !versions.isEmpty && storageVersions != 1 {
            problems.append("spec.versions: Invalid value: \(storageVersions): must have exactly one version marked as storage version")
        }
        var seen: Set<String> = []
        for (index, version) in versions.enumerated() {
            let path = "spec.versions[\(index)]"
            guard let name = version["name"]?.stringValue, isLabel(name) else {
                problems.append("\(path).name: Invalid value: \(version["name"] ?? "null"): a DNS-1035 label is required")
                continue
            }
            if !seen.insert(name).inserted { problems.append("\(path).name: Duplicate value: \"\(name)\"") }
            if version["served"]?.boolValue == nil { problems.append("\(path).served: Required value") }
            guard let schema = version.value(at: "schema.openAPIV3Schema") else {
                problems.append("\(path).schema.openAPIV3Schema: Required value: schemas are required")
                continue
            }
            if schema["type"]?.stringValue != "object" { problems.append("\(path).schema.openAPIV3Schema.type: Required value: must be object at the root") }
            problems += StructuralSchema.problems(of: schema, path: "\(path).schema.openAPIV3Schema")
            for (column, printer) in (version["additionalPrinterColumns"]?.arrayValue ?? []).enumerated() {
                let at = "\(path).additionalPrinterColumns[\(column)]"
                if printer["name"]?.stringValue?.isEmpty ?? true { problems.append("\(at).name: Required value") }
                if !["integer", "number", "string", "boolean", "date"].contains(printer["type"]?.stringValue ?? "") {
                    problems.append("\(at).type: Unsupported value: \(printer["type"] ?? "null"): supported values: \"boolean\", \"date\", \"integer\", \"number\", \"string\"")
                }
                if JSONPath(printer["jsonPath"]?.stringValue ?? "") == nil { problems.append("\(at).jsonPath: Invalid value: \(printer["jsonPath"] ?? "null"): must be a simple json path") }
            }
        }
        return problems
    }

    /// What the API server's defaulting and its naming and establishing controllers write: the
    /// names' defaults, the accepted names, `Established`, the stored versions.
    static func admit(_ crd: inout JSONValue, old: JSONValue?, now: String) {
        if let kind = crd.value(at: "spec.names.kind")?.stringValue {
            if crd.value(at: "spec.names.singular") == nil { crd["spec"]?["names"]?["singular"] = .string(kind.lowercased()) }
            if crd.value(at: "spec.names.listKind") == nil { crd["spec"]?["names"]?["listKind"] = .string(kind + "List") }
        }
        let versions = crd.value(at: "spec.versions")?.arrayValue ?? []
        let storage = versions.first { $0["storage"]?.boolValue == true }?["name"]?.stringValue
        var stored = old?.value(at: "status.storedVersions")?.arrayValue?.compactMap(\.stringValue) ?? []
        if let storage, !stored.contains(storage) { stored.append(storage) }
        // A condition already true keeps its transition time, so a write that changes nothing stays a no-op.
        let previous = old?.value(at: "status.conditions")?.arrayValue ?? []
        func condition(_ type: String, _ reason: String, _ message: String) -> JSONValue {
            let since = previous.first { $0["type"]?.stringValue == type && $0["status"] == "True" }?["lastTransitionTime"] ?? .string(now)
            return ["type": .string(type), "status": "True", "reason": .string(reason), "message": .string(message), "lastTransitionTime": since]
        }
        crd["status"] = ["acceptedNames": crd.value(at: "spec.names") ?? [:], "storedVersions": .array(stored.map(JSONValue.string)),
                         "conditions": [condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                                        condition("Established", "InitialNamesAccepted", "the initial names have been accepted")]]
    }

    /// `metadata.generation` of a custom resource or a definition: 1 on create, one more for
    /// every write that changes anything but metadata and status.
    static func countGeneration(_ object: inout JSONValue, old: JSONValue?) {
        guard let old else {
            object["metadata"]?["generation"] = 1
            return
        }
        var generation: Int64 = 1
        if case .int(let value)? = old.value(at: "metadata.generation") { generation = value }
        func content(_ value: JSONValue) -> JSONValue {
            var value = value
            value["metadata"] = nil
            value["status"] = nil
            return value
        }
        let changed = content(object) != content(old)
        object["metadata"]?["generation"] = .int(changed ? generation + 1 : generation)
    }

    static func isLabel(_ text: String) -> Bool {
        guard let first = text.first, let last = text.last, text.count <= 63 else { return false }
        return first.isLowercase && first.isASCII && (last.isLowercase || last.isNumber) && last.isASCII
            && text.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }
    }
}

/// The served custom resources, read again from the store after every write of a definition
/// (so requests never scan the store to find them).
final class CustomResourceRegistry: Sendable {
    private let served = Mutex<[APIResource]>([])

    var resources: [APIResource] { served.withLock { $0 } }

    func refresh(from store: KubeStore) {
        let definitions = (try? store.list(CustomResourceDefinitions.resource, namespace: nil).items) ?? []
        let resources = definitions.flatMap(CustomResourceDefinitions.servedResources)
        served.withLock { $0 = resources }
    }
}
