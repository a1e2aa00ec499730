import Foundation
import VPCNetCore

/// A Kubernetes label selector in its string form (`app=web,tier!=db,env in (a,b),!legacy`).
///
/// Grammar, as `kubectl -l` and the API's `labelSelector` accept it: comma-separated
/// requirements, each `key`, `!key`, `key=value`, `key==value`, `key!=value`,
/// `key in (v1,v2)` or `key notin (v1,v2)`. All requirements must hold.
public struct LabelSelector: Hashable, Sendable, CustomStringConvertible {
    public enum Requirement: Hashable, Sendable {
        case exists(String)
        case doesNotExist(String)
        case equals(String, String)
        case notEquals(String, String)
        case `in`(String, Set<String>)
        case notIn(String, Set<String>)
    }

    public var requirements: [Requirement]
    public let description: String

    public init(parsing text: String) throws(SelectorError) {
        description = text
        requirements = []
        for raw in Self.splitTopLevel(text) {
            let part = raw.trimmingCharacters(in: .whitespaces)
            if part.isEmpty { continue }
            requirements.append(try Self.requirement(part))
        }
    }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .exists(let key): labels[key] != nil
            case .doesNotExist(let key): labels[key] == nil
            case .equals(let key, let value): labels[key] == value
            case .notEquals(let key, let value): labels[key] != value
            case .in(let key, let values): labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): !(labels[key].map(values.contains) ?? false)
            }
        }
    }

    /// A selector in the API's object form: `matchLabels` and `matchExpressions` (`In`, `NotIn`,
    /// `Exists`, `DoesNotExist`), as label selectors and node selector terms write them.
    public init(matchLabels: [String: String] = [:], matchExpressions: [JSONValue]) throws(SelectorError) {
        requirements = matchLabels.sorted { $0.key < $1.key }.map { .equals($0.key, $0.value) }
        for expression in matchExpressions {
            let key = expression["key"]?.stringValue ?? ""
            let values = Set((expression["values"]?.arrayValue ?? []).compactMap(\.stringValue))
            switch expression["operator"]?.stringValue ?? "" {
            case "In": requirements.append(.in(key, values))
            case "NotIn": requirements.append(.notIn(key, values))
            case "Exists": requirements.append(.exists(key))
            case "DoesNotExist": requirements.append(.doesNotExist(key))
            case let other: throw SelectorError(key, "the operator '\(other)' is not supported")
            }
        }
        description = requirements.map { requirement in
            switch requirement {
            case .exists(let key): key
            case .doesNotExist(let key): "!\(key)"
            case .equals(let key, let value): "\(key)=\(value)"
            case .notEquals(let key, let value): "\(key)!=\(value)"
            case .in(let key, let values): "\(key) in (\(values.sorted().joined(separator: ",")))"
            case .notIn(let key, let values): "\(key) notin (\(values.sorted().joined(separator: ",")))"
            }
        }.joined(separator: ",")
    }

    /// Splits on commas outside parentheses.
    static func splitTopLevel(_ text: String) -> [String] {
        var parts: [String] = [], current = "", depth = 0
        for character in text {
            switch character {
            case "(": depth += 1; current.append(character)
            case ")": depth -= 1; current.append(character)
            case "," where depth == 0: parts.append(current); current = ""
            default: current.append(character)
            }
        }
        parts.append(current)
        return parts
    }

    static func requirement(_ part: String) throws(SelectorError) -> Requirement {
        let words = part.split(separator: " ", maxSplits: 1).map(String.init)
        if words.count == 2 {
            let rest = words[1].trimmingCharacters(in: .whitespaces)
            for (op, isIn) in [("in", true), ("notin", false)] where rest.hasPrefix(op) {
                let list = rest.dropFirst(op.count).trimmingCharacters(in: .whitespaces)
                guard list.hasPrefix("("), list.hasSuffix(")") else { throw SelectorError(part, "expected a parenthesised list") }
                let values = Set(list.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                let key = try validKey(words[0], part)
                for value in values { try validValue(value, part) }
                return isIn ? .in(key, values) : .notIn(key, values)
            }
        }
        for op in ["!=", "==", "="] {
            if let range = part.range(of: op) {
                let key = try validKey(part[..<range.lowerBound].trimmingCharacters(in: .whitespaces), part)
                let value = try validValue(part[range.upperBound...].trimmingCharacters(in: .whitespaces), part)
                return op == "!=" ? .notEquals(key, value) : .equals(key, value)
            }
        }
        if part.hasPrefix("!") { return .doesNotExist(try validKey(String(part.dropFirst()).trimmingCharacters(in: .whitespaces), part)) }
        return .exists(try validKey(part, part))
    }

    /// `[prefix/]name`: name 1–63 of alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
    @discardableResult
    static func validKey(_ key: String, _ part: String) throws(SelectorError) -> String {
        let name = key.split(separator: "/", maxSplits: 1).last.map(String.init) ?? ""
        guard !key.isEmpty, key.filter({ $0 == "/" }).count <= 1, isQualifiedName(name) else {
            throw SelectorError(part, "'\(key)' is not a valid label key")
        }
        return key
    }

    @discardableResult
    static func validValue(_ value: String, _ part: String) throws(SelectorError) -> String {
        guard value.isEmpty || isQualifiedName(value) else { throw SelectorError(part, "'\(value)' is not a valid label value") }
        return value
    }

    static func isQualifiedName(_ name: String) -> Bool {
        guard (1...63).contains(name.count), let first = name.first, let last = name.last,
              first.isASCII && (first.isLetter || first.isNumber), last.isASCII && (last.isLetter || last.isNumber) else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }
}

/// A field selector (`metadata.name=node-1,spec.nodeName!=`): `=`, `==` and `!=` on dotted paths.
public struct FieldSelector: Hashable, Sendable, CustomStringConvertible {
    public var requirements: [(path: String, value: String, equal: Bool)]
    public let description: String

    public init(parsing text: String) throws(SelectorError) {
        description = text
        requirements = []
        for raw in text.split(separator: ",") {
            let part = raw.trimmingCharacters(in: .whitespaces)
            if part.isEmpty { continue }
            var parsed: (String, String, Bool)?
            for op in ["!=", "==", "="] {
                if let range = part.range(of: op) {
                    parsed = (part[..<range.lowerBound].trimmingCharacters(in: .whitespaces),
                              part[range.upperBound...].trimmingCharacters(in: .whitespaces), op != "!=")
                    break
                }
            }
            guard let (path, value, equal) = parsed, !path.isEmpty else { throw SelectorError(part, "expected field=value or field!=value") }
            requirements.append((path, value, equal))
        }
    }

    /// Fields missing from the object compare as the empty string, as in Kubernetes.
    public func matches(_ object: JSONValue) -> Bool {
        requirements.allSatisfy { requirement in
            let actual: String
            switch object.value(at: requirement.path) {
            case .string(let s)?: actual = s
            case .int(let i)?: actual = String(i)
            case .bool(let b)?: actual = b ? "true" : "false"
            default: actual = ""
            }
            return (actual == requirement.value) == requirement.equal
        }
    }

    public static func == (lhs: FieldSelector, rhs: FieldSelector) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

public struct SelectorError: Error, Hashable, Sendable, CustomStringConvertible {
    public var requirement: String
    public var reason: String
    init(_ requirement: String, _ reason: String) {
        self.requirement = requirement
        self.reason = reason
    }
    public var description: String { "invalid selector requirement '\(requirement)': \(reason)" }
}
