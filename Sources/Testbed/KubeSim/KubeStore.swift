import Foundation
import Kubernetes
import Synchronization
import VPCNetCore

/// An API error as the Kubernetes API server reports it: an HTTP code and a `Status` object.
public struct KubeStatusError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: Int
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Gone`, `Invalid`, `BadRequest`, …
    public var reason: String
    public var message: String

    public init(code: Int, reason: String, message: String) {
        self.code = code
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(code) \(reason): \(message)" }

    /// The `Status` object of the error, as the API server writes it (429 tells when to retry).
    public var status: JSONValue {
        var status: JSONValue = ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure", "message": .string(message),
                                 "reason": .string(reason), "code": .int(Int64(code))]
        if code == 429 { status["details"] = ["retryAfterSeconds": 1] }
        return status
    }

    static func notFound(_ resource: String, _ name: String) -> Self {
        .init(code: 404, reason: "NotFound", message: "\(resource) \"\(name)\" not found")
    }
    static func conflict(_ resource: String, _ name: String) -> Self {
        .init(code: 409, reason: "Conflict",
              message: "Operation cannot be fulfilled on \(resource) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again")
    }
    static func invalid(_ message: String) -> Self { .init(code: 422, reason: "Invalid", message: message) }
    static func badRequest(_ message: String) -> Self { .init(code: 400, reason: "BadRequest", message: message) }
}

/// One change, as a watch delivers it.
public struct WatchEvent: Sendable, Hashable {
    public enum Kind: String, Sendable {
        case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK"
        /// A `Status` object: the watch cannot go on (410 Expired when it started too far back).
        case error = "ERROR"
    }
    public var kind: Kind
    public var resource: String
    public var object: JSONValue
    public var resourceVersion: Int64
}

/// The storage of the Kubernetes API simulator: objects by resource, namespace and name, one
/// global resourceVersion counter, optimistic concurrency, and an event history that watches
/// replay from a resourceVersion (`410 Gone` once it has been compacted away).
///
/// Every operation is atomic. Objects are kept whole as JSON, as etcd keeps them.
public final class KubeStore: Sendable {
    struct Key: Hashable { var resource: String; var namespace: String; var name: String }

    struct State {
        var objects: [Key: JSONValue] = [:]
        var revision: Int64 = 0
        var history: [WatchEvent] = []
        var watchers: [UUID: Watcher] = [:]
    }

    struct Watcher {
        var resource: String
        var namespace: String?
        var labelSelector: LabelSelector?
        var fieldSelector: FieldSelector?
        var continuation: AsyncStream<WatchEvent>.Continuation

        func wants(_ event: WatchEvent) -> Bool {
            guard KubeStore.matches(event, resource, namespace) else { return false }
            if event.kind == .bookmark { return true }
            return KubeStore.selected(event.object, labelSelector, fieldSelector)
        }
    }

    /// Objects larger than this are refused (etcd's default request limit is 1.5 MiB).
    public static let maxObjectBytes = 3 << 19
    /// Events a watcher may have queued; a watcher that falls this far behind is closed, as the
    /// API server closes slow watchers (the client re-watches).
    public static let maxQueuedEvents = 10_000

    private let state = Mutex(State())
    /// How many events are kept for watches that resume; older resourceVersions get 410 Gone.
    public let historyLimit: Int

    public init(historyLimit: Int = 10_000) {
        self.historyLimit = max(1, historyLimit)
    }

    public var currentRevision: Int64 { state.withLock { $0.revision } }

    // MARK: Reads

    public func get(_ resource: String, namespace: String?, name: String) throws(KubeStatusError) -> JSONValue {
        guard let object = state.withLock({ $0.objects[Key(resource: resource, namespace: namespace ?? "", name: name)] }) else {
            throw .notFound(resource, name)
        }
        return object
    }

    /// A consistent list: the items (sorted by namespace and name) and the revision they reflect.
    /// `limit` and `continueToken` page through it; the token encodes the last key returned.
    public func list(_ resource: String, namespace: String?, labelSelector: LabelSelector? = nil,
                     fieldSelector: FieldSelector? = nil, limit: Int? = nil,
                     continueToken: String? = nil) throws(KubeStatusError) -> (items: [JSONValue], revision: Int64, continueToken: String?) {
        var after: (String, String)?
        if let continueToken, !continueToken.isEmpty {
            let parts = continueToken.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else { throw .badRequest("invalid continue token") }
            after = (parts[0], parts[1])
        }
        return state.withLock { s in
            var keys = s.objects.keys.filter { $0.resource == resource && (namespace == nil || $0.namespace == namespace) }
            keys.sort { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
            if let after { keys = keys.filter { ($0.namespace, $0.name) > after } }
            var items: [JSONValue] = []
            var last: Key?
            var more = false
            for key in keys {
                let object = s.objects[key]!
                guard Self.selected(object, labelSelector, fieldSelector) else { continue }
                if let limit, items.count >= limit {
                    more = true
                    break
                }
                items.append(object)
                last = key
            }
            return (items, s.revision, more ? last.map { "\($0.namespace)/\($0.name)" } : nil)
        }
    }

    // MARK: Writes

    /// Stores a new object; its name, namespace, uid, creationTimestamp and resourceVersion are set here.
    /// Stores a new object. With `dryRun` (the API's `dryRun=All`) it is checked and returned as
    /// it would be stored, and nothing changes.
    public func create(_ resource: String, namespace: String?, object: JSONValue, dryRun: Bool = false) throws(KubeStatusError) -> JSONValue {
        guard case .object = object else { throw .badRequest("the body must be a JSON object") }
        guard let name = object.value(at: "metadata.name")?.stringValue, !name.isEmpty else {
            throw .invalid("metadata.name: Required value: name is required")
        }
        try Self.checkSize(object)
        return try state.withLock { s throws(KubeStatusError) in
            let key = Key(resource: resource, namespace: namespace ?? "", name: name)
            guard s.objects[key] == nil else {
                throw KubeStatusError(code: 409, reason: "AlreadyExists", message: "\(resource) \"\(name)\" already exists")
            }
            var stored = object
            var metadata = object["metadata"] ?? [:]
            if let namespace { metadata["namespace"] = .string(namespace) }
            metadata["uid"] = .string(UUID().uuidString.lowercased())
            metadata["creationTimestamp"] = .string(Self.timestamp())
            if dryRun {
                stored["metadata"] = metadata
                return stored
            }
            s.revision += 1
            metadata["resourceVersion"] = .string(String(s.revision))
            stored["metadata"] = metadata
            s.objects[key] = stored
            Self.record(&s, WatchEvent(kind: .added, resource: resource, object: stored, resourceVersion: s.revision), limit: historyLimit)
            return stored
        }
    }

    /// Replaces an object. A `metadata.resourceVersion` in `object` must match the stored one
    /// (optimistic concurrency, 409 otherwise); without it the update is unconditional.
    public func update(_ resource: String, namespace: String?, name: String, object: JSONValue) throws(KubeStatusError) -> JSONValue {
        try mutate(resource, namespace: namespace, name: name) { current throws(KubeStatusError) in
            guard case .object = object else { throw .badRequest("the body must be a JSON object") }
            if let bodyName = object.value(at: "metadata.name")?.stringValue, bodyName != name {
                throw .badRequest("the name in the body (\(bodyName)) does not match the URL (\(name))")
            }
            if let expected = object.value(at: "metadata.resourceVersion")?.stringValue, !expected.isEmpty,
               expected != current.value(at: "metadata.resourceVersion")?.stringValue {
                throw .conflict(resource, name)
            }
            return object
        }
    }

    /// Applies `change` to the stored object under the store's lock and stores the result with a
    /// new resourceVersion; identity fields (uid, creationTimestamp, name, namespace) are kept.
    /// A change that alters nothing stores nothing and emits no event, as the API server does.
    public func mutate(_ resource: String, namespace: String?, name: String, dryRun: Bool = false,
                       _ change: (JSONValue) throws(KubeStatusError) -> JSONValue) throws(KubeStatusError) -> JSONValue {
        try state.withLock { s throws(KubeStatusError) in
            let key = Key(resource: resource, namespace: namespace ?? "", name: name)
            guard let current = s.objects[key] else { throw .notFound(resource, name) }
            var updated = try change(current)
            guard case .object = updated else { throw .badRequest("the result must be a JSON object") }
            try Self.checkSize(updated)
            var metadata = updated["metadata"]?.objectValue ?? [:]
            // A uid in the request is a precondition, as in the API server: it names the object
            // the writer meant, so a same-named successor is not written over.
            if case .string(let uid)? = metadata["uid"], !uid.isEmpty, let stored = current.value(at: "metadata.uid")?.stringValue, uid != stored {
                throw KubeStatusError(code: 409, reason: "Conflict",
                                      message: "Precondition failed: UID in precondition: \(uid), UID in object meta: \(stored)")
            }
            for field in ["uid", "creationTimestamp", "namespace", "name"] { metadata[field] = current.value(at: "metadata.\(field)") }
            metadata["resourceVersion"] = current.value(at: "metadata.resourceVersion")
            updated["metadata"] = .object(metadata)
            if updated == current || dryRun { return updated }
            s.revision += 1
            updated["metadata"]?["resourceVersion"] = .string(String(s.revision))
            s.objects[key] = updated
            Self.record(&s, WatchEvent(kind: .modified, resource: resource, object: updated, resourceVersion: s.revision), limit: historyLimit)
            return updated
        }
    }

    /// Deletes an object, optionally only if its uid and/or resourceVersion match (409 otherwise).
    public func delete(_ resource: String, namespace: String?, name: String, preconditionUID: String? = nil,
                       preconditionResourceVersion: String? = nil) throws(KubeStatusError) -> JSONValue {
        try state.withLock { s throws(KubeStatusError) in
            let key = Key(resource: resource, namespace: namespace ?? "", name: name)
            guard var current = s.objects[key] else { throw .notFound(resource, name) }
            if let uid = preconditionUID, uid != current.value(at: "metadata.uid")?.stringValue {
                throw KubeStatusError(code: 409, reason: "Conflict", message: "Precondition failed: UID in precondition: \(uid)")
            }
            if let rv = preconditionResourceVersion, rv != current.value(at: "metadata.resourceVersion")?.stringValue {
                throw KubeStatusError(code: 409, reason: "Conflict", message: "Precondition failed: ResourceVersion in precondition: \(rv)")
            }
            s.objects[key] = nil
            s.revision += 1
            current["metadata"]?["resourceVersion"] = .string(String(s.revision))
            Self.record(&s, WatchEvent(kind: .deleted, resource: resource, object: current, resourceVersion: s.revision), limit: historyLimit)
            return current
        }
    }

    // MARK: Watch

    /// Events for `resource` (in `namespace`, or all; filtered by the selectors) after
    /// `resourceVersion`: first those still in the history, then live ones. Without a
    /// resourceVersion the watch starts with a synthetic ADDED for every existing object, as the
    /// API server's does. A resourceVersion older than the history is `410 Gone` (list again);
    /// one from the future is `504 Timeout`. With `bookmarkInterval`, BOOKMARK events carrying the
    /// current revision are queued behind the events already sent, so resuming from one never
    /// skips a change. The stream ends when the consumer stops, the watcher falls
    /// ``maxQueuedEvents`` behind, or ``closeWatches()`` runs.
    public func watch(_ resource: String, namespace: String?, from resourceVersion: Int64?, labelSelector: LabelSelector? = nil,
                      fieldSelector: FieldSelector? = nil, kind: String = "", apiVersion: String = "",
                      bookmarkInterval: Duration? = nil) throws(KubeStatusError) -> AsyncStream<WatchEvent> {
        let (stream, continuation) = AsyncStream<WatchEvent>.makeStream(bufferingPolicy: .bufferingOldest(Self.maxQueuedEvents))
        let id = UUID()
        let watcher = Watcher(resource: resource, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector,
                              continuation: continuation)
        try state.withLock { s throws(KubeStatusError) in
            if let start = resourceVersion {
                guard start <= s.revision else {
                    throw KubeStatusError(code: 504, reason: "Timeout", message: "Too large resource version: \(start), current: \(s.revision)")
                }
                if start < s.revision {
                    let oldest = s.history.first?.resourceVersion ?? s.revision + 1
                    guard start >= oldest - 1 else {
                        throw KubeStatusError(code: 410, reason: "Expired", message: "too old resource version: \(start) (\(oldest - 1))")
                    }
                    for event in s.history where event.resourceVersion > start && watcher.wants(event) {
                        continuation.yield(event)
                    }
                }
            } else {
                let keys = s.objects.keys.filter { $0.resource == resource && (namespace == nil || $0.namespace == namespace) }
                    .sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
                for key in keys {
                    let event = WatchEvent(kind: .added, resource: resource, object: s.objects[key]!, resourceVersion: s.revision)
                    if watcher.wants(event) { continuation.yield(event) }
                }
            }
            s.watchers[id] = watcher
        }
        let ticker: Task<Void, Never>? = bookmarkInterval.map { bookmarkInterval in
            Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: bookmarkInterval)
                    guard !Task.isCancelled, let self else { return }
                    self.state.withLock { s in
                        guard let watcher = s.watchers[id] else { return }
                        let object: JSONValue = ["kind": .string(kind), "apiVersion": .string(apiVersion),
                                                 "metadata": ["resourceVersion": .string(String(s.revision))]]
                        watcher.continuation.yield(WatchEvent(kind: .bookmark, resource: resource, object: object, resourceVersion: s.revision))
                    }
                }
            }
        }
        continuation.onTermination = { [weak self] _ in
            ticker?.cancel()
            self?.state.withLock { _ = $0.watchers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Ends every open watch (the client sees the stream close and must re-watch).
    public func closeWatches() {
        let watchers = state.withLock { s in
            defer { s.watchers = [:] }
            return Array(s.watchers.values)
        }
        for watcher in watchers { watcher.continuation.finish() }
    }

    /// Drops history up to `revision`, so watches from older versions get 410 (for tests of relisting).
    public func compact(through revision: Int64) {
        state.withLock { s in s.history.removeAll { $0.resourceVersion <= revision } }
    }

    private static func record(_ s: inout State, _ event: WatchEvent, limit: Int) {
        s.history.append(event)
        if s.history.count > limit { s.history.removeFirst(s.history.count - limit) }
        for (id, watcher) in s.watchers where watcher.wants(event) {
            if case .dropped = watcher.continuation.yield(event) {
                watcher.continuation.finish()
                s.watchers[id] = nil
            }
        }
    }

    static func selected(_ object: JSONValue, _ labels: LabelSelector?, _ fields: FieldSelector?) -> Bool {
        let objectLabels = (object.value(at: "metadata.labels")?.objectValue ?? [:]).compactMapValues(\.stringValue)
        return (labels?.matches(objectLabels) ?? true) && (fields?.matches(object) ?? true)
    }

    static func checkSize(_ object: JSONValue) throws(KubeStatusError) {
        guard object.serialized().utf8.count <= maxObjectBytes else {
            throw KubeStatusError(code: 413, reason: "RequestEntityTooLarge", message: "the object exceeds \(maxObjectBytes) bytes")
        }
    }

    static func matches(_ event: WatchEvent, _ resource: String, _ namespace: String?) -> Bool {
        event.resource == resource && (namespace == nil || event.object.value(at: "metadata.namespace")?.stringValue == namespace)
    }

    static func timestamp() -> String {
        Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false))
    }
}
