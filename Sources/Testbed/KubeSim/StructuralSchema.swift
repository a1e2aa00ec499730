import Foundation
import VPCNetCore

/// A custom resource checked against its version's structural OpenAPI v3 schema, as the API
/// server does on every write: defaults applied, unknown fields pruned (or refused under
/// `fieldValidation=Strict`), then types, `required`, `enum`, bounds and patterns checked, each
/// problem with its field path and the server's wording. Supported keywords: `type`,
/// `properties`, `additionalProperties`, `items`, `required`, `enum`, `default`, `nullable`,
/// `minimum`/`maximum`, `minLength`/`maxLength`, `minItems`/`maxItems`, `pattern`,
/// `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string`. Not modelled: CEL rules,
/// `oneOf`/`anyOf`/`allOf`, formats, list-type uniqueness. A definition using a keyword outside
/// this list is refused (``problems(of:path:)``), so nothing is silently left unchecked.
struct StructuralSchema {
    /// The result of checking one object.
    struct Outcome {
        var object: JSONValue
        var problems: [String] = []
        /// Paths of fields the schema does not know (pruned from `object`).
        var unknown: [String] = []
    }

    static let keywords: Set<String> = [
        "type", "properties", "additionalProperties", "items", "required", "enum", "default", "nullable", "description", "title",
        "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern", "example",
        "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
    ]

    /// What makes a schema unusable here: keywords outside the supported set, a `type` that is not
    /// one of OpenAPI's, properties without a schema.
    static func problems(of schema: JSONValue, path: String) -> [String] {
        guard let members = schema.objectValue else { return ["\(path): Invalid value: must be an object"] }
        var problems = members.keys.filter { !keywords.contains($0) }.sorted().map { "\(path).\($0): Forbidden: not supported by this API server" }
        if let type = members["type"]?.stringValue, !["object", "array", "string", "integer", "number", "boolean"].contains(type) {
            problems.append("\(path).type: Unsupported value: \"\(type)\"")
        }
        if members["type"] == nil && members["x-kubernetes-int-or-string"]?.boolValue != true && members["x-kubernetes-preserve-unknown-fields"]?.boolValue != true {
            problems.append("\(path).type: Required value: must not be empty for specified object fields")
        }
        for (name, property) in members["properties"]?.objectValue ?? [:] { problems += Self.problems(of: property, path: "\(path).properties[\(name)]") }
        if let items = members["items"] { problems += Self.problems(of: items, path: "\(path).items") }
        if let additional = members["additionalProperties"], additional.objectValue != nil {
            problems += Self.problems(of: additional, path: "\(path).additionalProperties")
        }
        return problems
    }

    /// Checks `object` (a whole custom resource) against `schema`. `apiVersion`, `kind` and
    /// `metadata` at the root are the API server's, not the schema's.
    static func check(_ object: JSONValue, schema: JSONValue) -> Outcome {
        var outcome = Outcome(object: object)
        guard case .object(var members) = object else {
            outcome.problems.append("<root>: Invalid value: must be an object")
            return outcome
        }
        let reserved = ["apiVersion", "kind", "metadata"]
        var rest = members.filter { !reserved.contains($0.key) }
        var schema = schema
        if var properties = schema["properties"]?.objectValue {
            for key in reserved { properties[key] = nil }
            schema["properties"] = .object(properties)
        }
        var value = JSONValue.object(rest)
        visit(&value, schema: schema, path: "", outcome: &outcome)
        rest = value.objectValue ?? [:]
        for key in reserved { if let kept = members[key] { rest[key] = kept } }
        members = rest
        outcome.object = .object(members)
        return outcome
    }

    private static func visit(_ value: inout JSONValue, schema: JSONValue, path: String, outcome: inout Outcome) {
        let at = path.isEmpty ? "<root>" : path
        if case .null = value {
            if schema["nullable"]?.boolValue != true { outcome.problems.append("\(at): Invalid value: \"null\": \(at) in body must be of type \(schema["type"]?.stringValue ?? "object"): \"null\"") }
            return
        }
        if let type = schema["type"]?.stringValue, !matches(value, type: type, intOrString: schema["x-kubernetes-int-or-string"]?.boolValue == true) {
            outcome.problems.append("\(at): Invalid value: \"\(kind(of: value))\": \(at) in body must be of type \(type): \"\(kind(of: value))\"")
            return
        }
        if let allowed = schema["enum"]?.arrayValue, !allowed.contains(value) {
            outcome.problems.append("\(at): Unsupported value: \(value.serialized()): supported values: \(allowed.map { $0.serialized() }.joined(separator: ", "))")
        }
        switch value {
        case .object(var members):
            let properties = schema["properties"]?.objectValue ?? [:]
            let additional = schema["additionalProperties"]
            let preserve = schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true
            for (name, property) in properties where members[name] == nil {
                if let defaulted = property["default"] { members[name] = defaulted }
            }
            for name in members.keys.sorted() {
                let child = path.isEmpty ? name : "\(path).\(name)"
                if let property = properties[name] ?? additional.flatMap({ $0.objectValue != nil ? $0 : nil }) {
                    visit(&members[name]!, schema: property, path: child, outcome: &outcome)
                } else if !preserve && additional?.boolValue != true {
                    outcome.unknown.append(child)
                    members[name] = nil
                }
            }
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
                outcome.problems.append("\(path.isEmpty ? name : "\(path).\(name)"): Required value")
            }
            value = .object(members)
        case .array(var items):
            if let low = schema["minItems"].flatMap(number), Double(items.count) < low {
                outcome.problems.append("\(at): Invalid value: \(items.count): \(at) in body should have at least \(Int(low)) items")
            }
            if let high = schema["maxItems"].flatMap(number), Double(items.count) > high {
                outcome.problems.append("\(at): Too many: \(items.count): must have at most \(Int(high)) items")
            }
            if let itemSchema = schema["items"] {
                for index in items.indices { visit(&items[index], schema: itemSchema, path: "\(at)[\(index)]", outcome: &outcome) }
            }
            value = .array(items)
        case .string(let text):
            if let low = schema["minLength"].flatMap(number), Double(text.count) < low {
                outcome.problems.append("\(at): Invalid value: \"\(text)\": \(at) in body should be at least \(Int(low)) chars long")
            }
            if let high = schema["maxLength"].flatMap(number), Double(text.count) > high {
                outcome.problems.append("\(at): Too long: may not be more than \(Int(high)) bytes")
            }
            if let pattern = schema["pattern"]?.stringValue, text.range(of: pattern, options: .regularExpression) == nil {
                outcome.problems.append("\(at): Invalid value: \"\(text)\": \(at) in body should match '\(pattern)'")
            }
        case .int, .double:
            let number = number(value) ?? 0
            if let low = schema["minimum"].flatMap(Self.number), number < low {
                outcome.problems.append("\(at): Invalid value: \(value.serialized()): \(at) in body should be greater than or equal to \(format(low))")
            }
            if let high = schema["maximum"].flatMap(Self.number), number > high {
                outcome.problems.append("\(at): Invalid value: \(value.serialized()): \(at) in body should be less than or equal to \(format(high))")
            }
        default:
            break
        }
    }

    static func matches(_ value: JSONValue, type: String, intOrString: Bool) -> Bool {
        switch (value, type) {
        case (.object, "object"), (.array, "array"), (.string, "string"), (.bool, "boolean"), (.int, "integer"), (.int, "number"), (.double, "number"): true
        case (.string, _), (.int, _): intOrString
        default: false
        }
    }

    static func kind(of value: JSONValue) -> String {
        switch value {
        case .object: "object"
        case .array: "array"
        case .string: "string"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .null: "null"
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    private static func format(_ number: Double) -> String { number == number.rounded() ? "\(Int64(number))" : "\(number)" }
}

/// The simple JSONPath of a printer column (`.status.nodes`, `.spec.groups[0]`): fields and
/// indexes, which is what column definitions use.
struct JSONPath: Sendable {
    enum Step: Sendable { case field(String), index(Int) }
    var steps: [Step]

    init?(_ text: String) {
        guard text.hasPrefix(".") else { return nil }
        var steps: [Step] = []
        for part in text.dropFirst().split(separator: ".", omittingEmptySubsequences: false) {
            var name = Substring(part)
            var indexes: [Int] = []
            while name.hasSuffix("]"), let open = name.lastIndex(of: "[") {
                guard let index = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]) else { return nil }
                indexes.insert(index, at: 0)
                name = name[..<open]
            }
            guard !name.isEmpty else { return nil }
            steps.append(.field(String(name)))
            steps += indexes.map(Step.index)
        }
        self.steps = steps
    }

    func value(in object: JSONValue) -> JSONValue? {
        var current: JSONValue? = object
        for step in steps {
            switch step {
            case .field(let name): current = current?[name]
            // Not `? $0[index] : nil`: JSONValue is nil-literal expressible, so that nil would be `.null`.
            case .index(let index): current = current?.arrayValue.flatMap { $0.indices.contains(index) ? .some($0[index]) : .none }
            }
        }
        return current
    }
}
