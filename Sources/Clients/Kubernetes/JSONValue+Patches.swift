import Foundation
import VPCNetCore

/// The three patch formats of the Kubernetes API, applied to ``JSONValue`` documents. Written
/// here because no Swift library implements them; each follows its specification.
public enum JSONPatchError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidPatch(String)
    case pathNotFound(String)
    case testFailed(String)

    public var description: String {
        switch self {
        case .invalidPatch(let detail): "invalid patch: \(detail)"
        case .pathNotFound(let path): "the path \(path) does not exist"
        case .testFailed(let path): "test operation failed at \(path)"
        }
    }
}

// MARK: - JSON merge patch (RFC 7386)

extension JSONValue {
    /// Applies a JSON merge patch: objects merge recursively, `null` removes a member, anything
    /// else (arrays included) replaces.
    public func mergePatched(with patch: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var members = objectValue ?? [:]
        for (key, value) in patchMembers {
            if value == .null {
                members[key] = nil
            } else {
                members[key] = (members[key] ?? .null).mergePatched(with: value)
            }
        }
        return .object(members)
    }
}

// MARK: - JSON patch (RFC 6902) with JSON pointers (RFC 6901)

extension JSONValue {
    /// The API server's limits: at most this many operations per patch, and this many bytes
    /// copied by `copy`/`move`, so a small patch cannot blow a document up exponentially.
    public static let maxJSONPatchOperations = 10_000
    public static let maxJSONPatchCopyBytes = 4 << 20

    /// Applies a JSON patch (an array of operations) atomically: on any error, nothing changes.
    public func jsonPatched(with patch: JSONValue) throws(JSONPatchError) -> JSONValue {
        guard case .array(let operations) = patch else { throw .invalidPatch("a JSON patch is an array of operations") }
        guard operations.count <= Self.maxJSONPatchOperations else {
            throw .invalidPatch("\(operations.count) operations exceed the limit of \(Self.maxJSONPatchOperations)")
        }
        var copiedBytes = 0
        var document = self
        for operation in operations {
            guard let op = operation["op"]?.stringValue, let path = operation["path"]?.stringValue else {
                throw .invalidPatch("every operation needs 'op' and 'path'")
            }
            let tokens = try Self.pointer(path)
            switch op {
            case "add":
                guard let value = operation["value"] else { throw .invalidPatch("add needs a value") }
                try document.insert(value, at: tokens, path: path)
            case "remove":
                _ = try document.remove(at: tokens, path: path)
            case "replace":
                guard let value = operation["value"] else { throw .invalidPatch("replace needs a value") }
                _ = try document.remove(at: tokens, path: path)
                try document.insert(value, at: tokens, path: path)
            case "move", "copy":
                guard let from = operation["from"]?.stringValue else { throw .invalidPatch("\(op) needs 'from'") }
                let fromTokens = try Self.pointer(from)
                if tokens.starts(with: fromTokens) && tokens.count > fromTokens.count {
                    throw .invalidPatch("cannot \(op) \(from) into its own child \(path)")
                }
                let value = op == "move" ? try document.remove(at: fromTokens, path: from) : try document.get(fromTokens, path: from)
                if op == "copy" {
                    copiedBytes += value.serialized().utf8.count
                    guard copiedBytes <= Self.maxJSONPatchCopyBytes else {
                        throw .invalidPatch("copy operations exceed \(Self.maxJSONPatchCopyBytes) bytes")
                    }
                }
                try document.insert(value, at: tokens, path: path)
            case "test":
                guard let value = operation["value"] else { throw .invalidPatch("test needs a value") }
                guard try document.get(tokens, path: path) == value else { throw .testFailed(path) }
            default:
                throw .invalidPatch("unknown op '\(op)'")
            }
        }
        return document
    }

    static func pointer(_ path: String) throws(JSONPatchError) -> [String] {
        if path.isEmpty { return [] }
        guard path.hasPrefix("/") else { throw .invalidPatch("'\(path)' is not a JSON pointer") }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    func get(_ tokens: [String], path: String) throws(JSONPatchError) -> JSONValue {
        var current = self
        for token in tokens {
            switch current {
            case .object(let members):
                guard let next = members[token] else { throw .pathNotFound(path) }
                current = next
            case .array(let items):
                guard let index = Int(token), items.indices.contains(index), token == String(index) else { throw .pathNotFound(path) }
                current = items[index]
            default:
                throw .pathNotFound(path)
            }
        }
        return current
    }

    mutating func insert(_ value: JSONValue, at tokens: [String], path: String) throws(JSONPatchError) {
        guard let last = tokens.last else {
            self = value
            return
        }
        try modify(Array(tokens.dropLast()), path: path) { (parent: inout JSONValue) throws(JSONPatchError) in
            switch parent {
            case .object(var members):
                members[last] = value
                parent = .object(members)
            case .array(var items):
                if last == "-" {
                    items.append(value)
                } else {
                    guard let index = Int(last), (0...items.count).contains(index), last == String(index) else { throw .pathNotFound(path) }
                    items.insert(value, at: index)
                }
                parent = .array(items)
            default:
                throw .pathNotFound(path)
            }
        }
    }

    mutating func remove(at tokens: [String], path: String) throws(JSONPatchError) -> JSONValue {
        guard let last = tokens.last else { throw .invalidPatch("cannot remove the whole document") }
        var removed = JSONValue.null
        try modify(Array(tokens.dropLast()), path: path) { (parent: inout JSONValue) throws(JSONPatchError) in
            switch parent {
            case .object(var members):
                guard let value = members.removeValue(forKey: last) else { throw .pathNotFound(path) }
                removed = value
                parent = .object(members)
            case .array(var items):
                guard let index = Int(last), items.indices.contains(index), last == String(index) else { throw .pathNotFound(path) }
                removed = items.remove(at: index)
                parent = .array(items)
            default:
                throw .pathNotFound(path)
            }
        }
        return removed
    }

    /// Runs `body` on the value at `tokens`, writing the result back up the path.
    mutating func modify(_ tokens: [String], path: String, _ body: (inout JSONValue) throws(JSONPatchError) -> Void) throws(JSONPatchError) {
        guard let first = tokens.first else {
            try body(&self)
            return
        }
        let rest = Array(tokens.dropFirst())
        switch self {
        case .object(var members):
            guard var child = members[first] else { throw .pathNotFound(path) }
            try child.modify(rest, path: path, body)
            members[first] = child
            self = .object(members)
        case .array(var items):
            guard let index = Int(first), items.indices.contains(index), first == String(index) else { throw .pathNotFound(path) }
            try items[index].modify(rest, path: path, body)
            self = .array(items)
        default:
            throw .pathNotFound(path)
        }
    }
}

// MARK: - Strategic merge patch (the subset kubectl sends for the objects vpcnet uses)

extension JSONValue {
    /// Lists that strategic merge patch merges by a key instead of replacing, for the kinds the
    /// simulator serves (from the Kubernetes API's `patchStrategy=merge` / `patchMergeKey` tags).
    /// Every other list — `spec.taints` and `spec.tolerations` among them (`listType=atomic`) —
    /// is replaced whole, which is how `kubectl taint` removes a taint.
    public static let strategicMergeKeys: [String: String] = [
        "containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
        "ports": "containerPort", "conditions": "type", "addresses": "type", "volumeMounts": "mountPath",
        "ownerReferences": "uid",
    ]

    /// Applies a strategic merge patch: like a merge patch, except that lists named in
    /// ``strategicMergeKeys`` merge element-wise by their key, and an element with
    /// `"$patch": "delete"` removes the element with the same key. `$setElementOrder` and
    /// `$retainKeys` directives are accepted and ignored.
    public func strategicMergePatched(with patch: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var members = objectValue ?? [:]
        for (key, value) in patchMembers {
            if key.hasPrefix("$setElementOrder/") || key == "$retainKeys" || key == "$patch" { continue }
            if value == .null {
                members[key] = nil
            } else if case .array(let patchItems) = value, let mergeKey = Self.strategicMergeKeys[key], !mergeKey.isEmpty,
                      case .array(var items)? = members[key] {
                for item in patchItems {
                    guard let id = item[mergeKey] else { items.append(item); continue }
                    let index = items.firstIndex { $0[mergeKey] == id }
                    if item["$patch"]?.stringValue == "delete" {
                        if let index { items.remove(at: index) }
                    } else if let index {
                        items[index] = items[index].strategicMergePatched(with: item)
                    } else {
                        items.append(item)
                    }
                }
                members[key] = .array(items)
            } else if case .array(let patchItems) = value {
                members[key] = .array(patchItems.filter { $0["$patch"]?.stringValue != "delete" })
            } else {
                members[key] = (members[key] ?? .null).strategicMergePatched(with: value)
            }
        }
        return .object(members)
    }
}
