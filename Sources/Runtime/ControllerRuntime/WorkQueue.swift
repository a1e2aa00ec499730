import VPCNetCore

/// A work queue of keys in the shape Kubernetes controllers use (client-go's rate-limited queue):
///
/// - a key is queued at most once, however often it is added;
/// - a key being processed (between ``next()`` and ``done(_:)``) is never handed to a second
///   worker; adding it meanwhile queues it again once it is done;
/// - ``addRateLimited(_:)`` re-adds a failed key after a per-key exponential backoff with jitter,
///   reset by ``forget(_:)`` once the key succeeds.
public actor WorkQueue<Key: Hashable & Sendable> {
    private var queue: [Key] = []
    private var dirty: Set<Key> = []
    private var processing: Set<Key> = []
    private var failures: [Key: Int] = [:]
    private var delayed: [Key: (deadline: ContinuousClock.Instant, task: Task<Void, Never>)] = [:]
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Key?, Never>)] = []
    private var nextWaiter: UInt64 = 0
    private var shuttingDown = false
    public let backoff: Backoff

    public init(backoff: Backoff = Backoff(base: .milliseconds(5), cap: .seconds(300))) {
        self.backoff = backoff
    }

    /// Keys queued and not yet handed out.
    public var count: Int { queue.count }
    public var isShuttingDown: Bool { shuttingDown }

    public func add(_ key: Key) {
        guard !shuttingDown, !dirty.contains(key) else { return }
        dirty.insert(key)
        if processing.contains(key) { return }
        if !waiters.isEmpty {
            // Hand it straight to a waiting worker.
            let waiter = waiters.removeFirst()
            dirty.remove(key)
            processing.insert(key)
            waiter.continuation.resume(returning: key)
        } else {
            queue.append(key)
        }
    }

    /// Adds `key` after `delay`; an earlier pending add of the same key wins.
    public func add(_ key: Key, after delay: Duration) {
        guard !shuttingDown else { return }
        guard delay > .zero else { return add(key) }
        let deadline = ContinuousClock.now.advanced(by: delay)
        if let pending = delayed[key] {
            if pending.deadline <= deadline { return }
            pending.task.cancel()
        }
        delayed[key] = (deadline, Task { [weak self] in
            guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil else { return }
            await self?.fire(key, deadline: deadline)
        })
    }

    private func fire(_ key: Key, deadline: ContinuousClock.Instant) {
        guard delayed[key]?.deadline == deadline else { return }
        delayed[key] = nil
        add(key)
    }

    /// Re-adds `key` after its backoff; each call without a ``forget(_:)`` doubles the wait.
    public func addRateLimited(_ key: Key) {
        let attempt = (failures[key] ?? 0) + 1
        failures[key] = attempt
        add(key, after: backoff.delay(attempt: attempt))
    }

    /// The key succeeded: its next failure starts the backoff afresh.
    public func forget(_ key: Key) { failures[key] = nil }

    public func failureCount(_ key: Key) -> Int { failures[key] ?? 0 }

    /// The next key to process, waiting for one; nil once the queue is shut down (or the calling
    /// task is cancelled). Call ``done(_:)`` when finished with it.
    /// Workers waiting in ``next()`` for a key.
    public var waitingWorkers: Int { waiters.count }

    public func next() async -> Key? {
        if let key = take() { return key }
        if shuttingDown || Task.isCancelled { return nil }
        let id = nextWaiter
        nextWaiter += 1
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in waiters.append((id, continuation)) }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func take() -> Key? {
        guard !queue.isEmpty else { return nil }
        let key = queue.removeFirst()
        dirty.remove(key)
        processing.insert(key)
        return key
    }

    private func cancelWaiter(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(returning: nil)
    }

    /// Processing of `key` finished; if it was added meanwhile it is queued again now.
    public func done(_ key: Key) {
        processing.remove(key)
        if dirty.contains(key) {
            dirty.remove(key)
            add(key)
        }
    }

    /// Stops handing out keys: waiting and later ``next()`` calls return nil; pending delayed adds are dropped.
    public func shutDown() {
        shuttingDown = true
        for (_, pending) in delayed { pending.task.cancel() }
        delayed = [:]
        queue = []
        dirty = []
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.continuation.resume(returning: nil) }
    }
}
