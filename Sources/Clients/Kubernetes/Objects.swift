import VPCNetCore

/// A Kubernetes object held whole as JSON, with typed accessors for the fields vpcnet reads and
/// writes. Setting a field changes only that field: everything else — fields vpcnet does not
/// model, fields added by newer Kubernetes versions, other controllers' data — is kept, so an
/// update never drops what someone else wrote.
public protocol KubeObject: Sendable, Hashable {
    static var apiVersion: String { get }
    static var kind: String { get }
    /// The resource name in URLs (`nodes`, `pods`, …).
    static var resource: String { get }
    static var namespaced: Bool { get }
    var raw: JSONValue { get set }
    init(raw: JSONValue)
}

extension KubeObject {
    /// A new object of this kind with the given name (and namespace, for namespaced kinds).
    public init(name: String, namespace: String? = nil) {
        var metadata: JSONValue = ["name": .string(name)]
        if let namespace { metadata["namespace"] = .string(namespace) }
        self.init(raw: ["apiVersion": .string(Self.apiVersion), "kind": .string(Self.kind), "metadata": metadata])
    }

    public var name: String { raw.value(at: "metadata.name")?.stringValue ?? "" }
    public var namespace: String? { raw.value(at: "metadata.namespace")?.stringValue }
    public var uid: String? { raw.value(at: "metadata.uid")?.stringValue }

    public var resourceVersion: String? {
        get { raw.value(at: "metadata.resourceVersion")?.stringValue }
        set { setMetadata("resourceVersion", newValue.map(JSONValue.string)) }
    }

    public var labels: [String: String] {
        get { Self.stringMap(raw.value(at: "metadata.labels")) }
        set { setMetadata("labels", newValue.isEmpty ? nil : .object(newValue.mapValues(JSONValue.string))) }
    }

    public var annotations: [String: String] {
        get { Self.stringMap(raw.value(at: "metadata.annotations")) }
        set { setMetadata("annotations", newValue.isEmpty ? nil : .object(newValue.mapValues(JSONValue.string))) }
    }

    public var deletionTimestamp: String? { raw.value(at: "metadata.deletionTimestamp")?.stringValue }

    /// `(kind, name, controller)` of each owner.
    public var owners: [(kind: String, name: String, controller: Bool)] {
        (raw.value(at: "metadata.ownerReferences")?.arrayValue ?? []).compactMap { reference in
            guard let kind = reference["kind"]?.stringValue, let name = reference["name"]?.stringValue else { return nil }
            return (kind, name, reference["controller"] == .bool(true))
        }
    }

    public mutating func setMetadata(_ key: String, _ value: JSONValue?) {
        var metadata = raw["metadata"] ?? .object([:])
        metadata[key] = value
        raw["metadata"] = metadata
    }

    /// Sets `value` at a dotted path, creating intermediate objects; `nil` removes the member.
    public mutating func set(_ path: String, _ value: JSONValue?) {
        raw = Self.setting(raw, Array(path.split(separator: ".").map(String.init))[...], value)
    }

    private static func setting(_ object: JSONValue, _ path: ArraySlice<String>, _ value: JSONValue?) -> JSONValue {
        guard let key = path.first else { return value ?? .null }
        var members = object.objectValue ?? [:]
        if path.count == 1 {
            members[key] = value
        } else {
            members[key] = setting(members[key] ?? .object([:]), path.dropFirst(), value)
        }
        return .object(members)
    }

    static func stringMap(_ value: JSONValue?) -> [String: String] {
        (value?.objectValue ?? [:]).compactMapValues(\.stringValue)
    }
}

/// A Node: provider ID, taints, conditions, addresses.
public struct Node: KubeObject {
    public static let apiVersion = "v1", kind = "Node", resource = "nodes"
    public static let namespaced = false
    public var raw: JSONValue
    public init(raw: JSONValue) { self.raw = raw }

    public var providerID: String? {
        get { raw.value(at: "spec.providerID")?.stringValue }
        set { set("spec.providerID", newValue.map(JSONValue.string)) }
    }

    public var taints: [Taint] {
        (raw.value(at: "spec.taints")?.arrayValue ?? []).compactMap { entry in
            guard let key = entry["key"]?.stringValue, let effect = entry["effect"]?.stringValue.flatMap(Taint.Effect.init) else { return nil }
            return Taint(key: key, value: entry["value"]?.stringValue, effect: effect)
        }
    }

    public func hasTaint(_ taint: Taint) -> Bool { taints.contains { $0.key == taint.key && $0.effect == taint.effect } }

    /// Adds the taint unless one with the same key and effect exists; other entries (and their
    /// `timeAdded`) are untouched. Returns whether anything changed.
    @discardableResult
    public mutating func addTaint(_ taint: Taint) -> Bool {
        guard !hasTaint(taint) else { return false }
        var entry: JSONValue = ["key": .string(taint.key), "effect": .string(taint.effect.rawValue)]
        if let value = taint.value { entry["value"] = .string(value) }
        set("spec.taints", .array((raw.value(at: "spec.taints")?.arrayValue ?? []) + [entry]))
        return true
    }

    /// Removes every taint with this key and effect. Returns whether anything changed.
    @discardableResult
    public mutating func removeTaint(key: String, effect: Taint.Effect) -> Bool {
        let entries = raw.value(at: "spec.taints")?.arrayValue ?? []
        let kept = entries.filter { !($0["key"]?.stringValue == key && $0["effect"]?.stringValue == effect.rawValue) }
        guard kept.count != entries.count else { return false }
        set("spec.taints", kept.isEmpty ? nil : .array(kept))
        return true
    }

    /// `status.conditions[type]` as `True`/`False`/`Unknown`.
    public func condition(_ type: String) -> String? {
        raw.value(at: "status.conditions")?.arrayValue?.first { $0["type"]?.stringValue == type }?["status"]?.stringValue
    }

    public var isReady: Bool { condition("Ready") == "True" }
}

/// A Pod: where it runs, its phase and address, whether it uses the host's network.
public struct Pod: KubeObject {
    public static let apiVersion = "v1", kind = "Pod", resource = "pods"
    public static let namespaced = true
    public var raw: JSONValue
    public init(raw: JSONValue) { self.raw = raw }

    public var nodeName: String? {
        get { raw.value(at: "spec.nodeName")?.stringValue }
        set { set("spec.nodeName", newValue.map(JSONValue.string)) }
    }

    public var hostNetwork: Bool { raw.value(at: "spec.hostNetwork") == .bool(true) }

    public var phase: String? {
        get { raw.value(at: "status.phase")?.stringValue }
        set { set("status.phase", newValue.map(JSONValue.string)) }
    }

    public var podIP: String? {
        get { raw.value(at: "status.podIP")?.stringValue }
        set {
            set("status.podIP", newValue.map(JSONValue.string))
            set("status.podIPs", newValue.map { .array([["ip": .string($0)]]) })
        }
    }

    /// Taints this pod tolerates, as (key, effect); a toleration without key (operator Exists) tolerates all.
    public func tolerates(_ taint: Taint) -> Bool {
        (raw.value(at: "spec.tolerations")?.arrayValue ?? []).contains { toleration in
            let key = toleration["key"]?.stringValue
            let effect = toleration["effect"]?.stringValue ?? ""
            let op = toleration["operator"]?.stringValue ?? "Equal"
            guard effect.isEmpty || effect == taint.effect.rawValue else { return false }  // empty: every effect
            if key == nil || key == "" { return op == "Exists" }
            guard key == taint.key else { return false }
            return op == "Exists" || toleration["value"]?.stringValue ?? "" == taint.value ?? ""
        }
    }
}

/// A `coordination.k8s.io/v1` Lease, for leader election.
public struct Lease: KubeObject {
    public static let apiVersion = "coordination.k8s.io/v1", kind = "Lease", resource = "leases"
    public static let namespaced = true
    public var raw: JSONValue
    public init(raw: JSONValue) { self.raw = raw }

    public var holderIdentity: String? {
        get { raw.value(at: "spec.holderIdentity")?.stringValue }
        set { set("spec.holderIdentity", newValue.map(JSONValue.string)) }
    }

    public var leaseDurationSeconds: Int? {
        get { raw.value(at: "spec.leaseDurationSeconds").flatMap { if case .int(let i) = $0 { Int(i) } else { nil } } }
        set { set("spec.leaseDurationSeconds", newValue.map { .int(Int64($0)) }) }
    }

    /// RFC 3339 with microseconds, as Kubernetes writes `MicroTime`.
    public var renewTime: String? {
        get { raw.value(at: "spec.renewTime")?.stringValue }
        set { set("spec.renewTime", newValue.map(JSONValue.string)) }
    }

    public var acquireTime: String? {
        get { raw.value(at: "spec.acquireTime")?.stringValue }
        set { set("spec.acquireTime", newValue.map(JSONValue.string)) }
    }

    public var leaseTransitions: Int {
        get { raw.value(at: "spec.leaseTransitions").flatMap { if case .int(let i) = $0 { Int(i) } else { nil } } ?? 0 }
        set { set("spec.leaseTransitions", .int(Int64(newValue))) }
    }
}

/// A ConfigMap's string data.
public struct ConfigMap: KubeObject {
    public static let apiVersion = "v1", kind = "ConfigMap", resource = "configmaps"
    public static let namespaced = true
    public var raw: JSONValue
    public init(raw: JSONValue) { self.raw = raw }

    public var data: [String: String] {
        get { Self.stringMap(raw["data"]) }
        set { raw["data"] = .object(newValue.mapValues(JSONValue.string)) }
    }
}

/// A core/v1 Event about an object.
public struct Event: KubeObject {
    public static let apiVersion = "v1", kind = "Event", resource = "events"
    public static let namespaced = true
    public var raw: JSONValue
    public init(raw: JSONValue) { self.raw = raw }

    public enum EventType: String, Sendable { case normal = "Normal", warning = "Warning" }

    /// An event about `object` (its kind, name, namespace and uid), from `component`.
    public init<Object: KubeObject>(about object: Object, type: EventType, reason: String, message: String, component: String,
                                    name: String, time: String) {
        self.init(name: name, namespace: object.namespace ?? "default")
        var involved: JSONValue = ["apiVersion": .string(Object.apiVersion), "kind": .string(Object.kind), "name": .string(object.name)]
        if let namespace = object.namespace { involved["namespace"] = .string(namespace) }
        if let uid = object.uid { involved["uid"] = .string(uid) }
        raw["involvedObject"] = involved
        raw["type"] = .string(type.rawValue)
        raw["reason"] = .string(reason)
        raw["message"] = .string(message)
        raw["source"] = ["component": .string(component)]
        raw["firstTimestamp"] = .string(time)
        raw["lastTimestamp"] = .string(time)
        raw["count"] = 1
    }

    public var reason: String? { raw["reason"]?.stringValue }
    public var message: String? { raw["message"]?.stringValue }
    public var involvedObjectName: String? { raw.value(at: "involvedObject.name")?.stringValue }
}
