import Kubernetes
import Logging
import Synchronization
import VPCNetCore

/// What changed in an ``Informer``'s cache.
public enum InformerEvent<T: KubeObject>: Sendable {
    case added(T)
    case updated(old: T, new: T)
    case deleted(T)
    /// The periodic resync: every cached object is offered again, so level-triggered handlers
    /// re-check state the API does not announce (EC2's, say).
    case resync(T)

    /// The object the event is about (the new one for updates, the last known one for deletions).
    public var object: T {
        switch self {
        case .added(let object), .deleted(let object), .resync(let object): object
        case .updated(_, let new): new
        }
    }
}

/// A watch-fed local cache of one resource: list, then watch from the list's resourceVersion,
/// resuming after the server ends a watch, relisting after `410 Gone`, backing off with jitter on
/// errors, and diffing each relist against the cache so deletions missed while disconnected are
/// still reported. Handlers run in event order on the informer's task; they should only enqueue.
public final class Informer<T: KubeObject>: Sendable {
    public let client: KubeClient
    public let namespace: String?
    public let labelSelector: String?
    public let fieldSelector: String?
    public let resyncPeriod: Duration?
    let backoff: Backoff
    let logger: Logger
    private let cache = Mutex<[String: T]>([:])
    private let synced = Mutex<(done: Bool, waiters: [UInt64: CheckedContinuation<Void, Never>], next: UInt64)>((false, [:], 0))

    public init(client: KubeClient, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
                resyncPeriod: Duration? = .seconds(300), backoff: Backoff = Backoff(base: .milliseconds(200), cap: .seconds(30)),
                logger: Logger = Logger(label: "vpcnet.informer")) {
        self.client = client
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.resyncPeriod = resyncPeriod
        self.backoff = backoff
        var logger = logger
        logger[metadataKey: "resource"] = "\(T.resource)"
        self.logger = logger
    }

    /// The cache key of an object: `namespace/name`, or `name` for cluster-scoped objects.
    public static func key(of object: T) -> String {
        if T.namespaced, let namespace = object.namespace { return "\(namespace)/\(object.name)" }
        return object.name
    }

    public func get(_ key: String) -> T? { cache.withLock { $0[key] } }
    public func list() -> [T] { cache.withLock { Array($0.values) } }
    public var hasSynced: Bool { synced.withLock { $0.done } }

    /// Returns once the first list has filled the cache, or when the calling task is cancelled.
    public func waitForSync() async {
        let id = synced.withLock { state -> UInt64 in
            defer { state.next += 1 }
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = synced.withLock { state -> Bool in
                    if state.done || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            synced.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Runs until cancelled, calling `handler` for every change.
    public func run(_ handler: @escaping @Sendable (InformerEvent<T>) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.listAndWatch(handler) }
            if let resyncPeriod {
                group.addTask {
                    while (try? await Task.sleep(for: resyncPeriod)) != nil {
                        for object in self.list() { await handler(.resync(object)) }
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func listAndWatch(_ handler: @Sendable (InformerEvent<T>) async -> Void) async {
        var failures = 0
        var version: String?
        while !Task.isCancelled {
            do {
                if version == nil {
                    let listed = try await client.list(T.self, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector)
                    for event in replace(with: listed.items) { await handler(event) }
                    markSynced()
                    version = listed.resourceVersion
                }
                // client-go's spread: 5 to 10 minutes, so a fleet's watches do not all end at once.
                let stream = client.watch(T.self, namespace: namespace, resourceVersion: version ?? "", labelSelector: labelSelector,
                                          fieldSelector: fieldSelector, timeoutSeconds: Int.random(in: 300...600))
                let started = ContinuousClock.now
                var received = false
                for try await event in stream {
                    failures = 0
                    received = true
                    switch event {
                    case .bookmark(let resourceVersion):
                        version = resourceVersion
                    case .added(let object), .modified(let object):
                        version = object.resourceVersion ?? version
                        if let change = store(object) { await handler(change) }
                    case .deleted(let object):
                        version = object.resourceVersion ?? version
                        if let change = remove(object) { await handler(change) }
                    }
                }
                // The server ended the watch (its timeout, or it dropped us): resume where we were.
                // A watch that ends at once with nothing in it is treated as a failure (client-go's
                // "very short watch"), so a proxy closing every stream cannot make us spin.
                if !received && ContinuousClock.now - started < .seconds(1) {
                    failures += 1
                    try? await Task.sleep(for: backoff.delay(attempt: failures))
                }
            } catch let error as KubeError where error.isGone {
                logger.info("watch history expired; listing again", metadata: ["version": "\(version ?? "")"])
                version = nil
            } catch {
                if Task.isCancelled { return }
                failures += 1
                let delay = backoff.delay(attempt: failures)
                logger.warning("list/watch failed; retrying", metadata: ["error": "\(error)", "attempt": "\(failures)", "delay": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
    }

    private func markSynced() {
        let waiters = synced.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.done = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Installs a full list, returning the differences from what was cached.
    func replace(with items: [T]) -> [InformerEvent<T>] {
        cache.withLock { cache in
            var fresh: [String: T] = [:]
            var events: [InformerEvent<T>] = []
            for item in items {
                let key = Self.key(of: item)
                fresh[key] = item
                if let old = cache[key] {
                    if old.resourceVersion != item.resourceVersion { events.append(.updated(old: old, new: item)) }
                } else {
                    events.append(.added(item))
                }
            }
            for (key, old) in cache where fresh[key] == nil { events.append(.deleted(old)) }
            cache = fresh
            return events
        }
    }

    private func store(_ object: T) -> InformerEvent<T>? {
        cache.withLock { cache in
            let key = Self.key(of: object)
            let old = cache.updateValue(object, forKey: key)
            guard let old else { return .added(object) }
            return old.resourceVersion == object.resourceVersion ? nil : .updated(old: old, new: object)
        }
    }

    private func remove(_ object: T) -> InformerEvent<T>? {
        cache.withLock { cache in cache.removeValue(forKey: Self.key(of: object)).map { _ in .deleted(object) } }
    }
}
