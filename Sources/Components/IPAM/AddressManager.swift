import VPCNetContracts
import VPCNetCore

/// The IPAM's single owner of the pool: every change is persisted before it is answered, so an
/// answer the plugin saw survives a crash; a change that cannot be persisted is undone and fails.
public actor AddressManager {
    public struct Status: Sendable, Hashable {
        public var configured: Bool
        public var total: Int
        public var allocated: Int
        public var free: Int
        public var coolingDown: Int
        /// When the next cooling address becomes free (ms since the epoch).
        public var nextFreeAt: Int64?
    }

    private var pool: AddressPool
    private let store: PoolStore
    private let now: @Sendable () -> Int64
    private let onRelease: @Sendable (Allocation) async -> Void
    /// Allocations the state file held twice (dropped at load; the older one was kept).
    public nonisolated let duplicatesAtLoad: [Allocation]

    /// Loads the persisted state (adopting a legacy file first). `now` is milliseconds since the epoch (wall clock: cooldowns must
    /// survive restarts); `onRelease` runs after each release is persisted (conntrack flush).
    public init(store: PoolStore, cooldownMilliseconds: Int64, now: @escaping @Sendable () -> Int64,
                onRelease: @escaping @Sendable (Allocation) async -> Void = { _ in }) throws {
        _ = try store.adoptLegacyFile()
        let loaded = try store.load()
        pool = AddressPool(cooldownMilliseconds: cooldownMilliseconds, allocations: loaded.allocations, releasedAt: loaded.releasedAt)
        duplicatesAtLoad = loaded.duplicates
        self.store = store
        self.now = now
        self.onRelease = onRelease
    }

    /// Takes the record's addresses (handing out those of `usable` ENIs only; nil: all); returns
    /// allocations dropped because their address left the record.
    public func configure(record: NodeNetworkRecord, usable: Set<NetworkInterfaceID>? = nil) throws -> [Allocation] {
        var next = pool
        let dropped = next.configure(record: record, usable: usable)
        if next != pool {
            if !dropped.isEmpty || next.releasedAt != pool.releasedAt { try store.save(next, now: now()) }
            pool = next
        }
        return dropped
    }

    /// Allocates for `pod` from the ENIs of `profile` (nil: the node's own).
    public func add(_ key: AttachmentKey, pod: PodReference, hostPorts: [HostPort] = [], profile: String? = nil) throws -> (Allocation, AddressSource) {
        var next = pool
        let (allocation, source, changed) = try next.allocate(key, pod: pod, hostPorts: hostPorts, profile: profile, now: now())
        if changed { try store.save(next, now: now()) }
        pool = next
        return (allocation, source)
    }

    /// Releases the attachment's address; nil when it held none (DEL of an unknown attachment succeeds).
    public func release(_ key: AttachmentKey) async throws -> Allocation? {
        var next = pool
        guard let released = next.release(key, now: now()) else { return nil }
        try store.save(next, now: now())
        pool = next
        await onRelease(released)
        return released
    }

    public func allocation(for key: AttachmentKey) -> Allocation? { pool.allocation(for: key) }

    /// The CNI GC verb: releases `network`'s allocations not in `valid`.
    public func collect(network: String, valid: Set<AttachmentKey>) async throws -> [Allocation] {
        var next = pool
        let released = next.collect(network: network, valid: valid, now: now())
        guard !released.isEmpty else { return [] }
        try store.save(next, now: now())
        pool = next
        for allocation in released { await onRelease(allocation) }
        return released
    }

    public var allocations: [Allocation] { pool.allocations.values.sorted { $0.key < $1.key } }

    /// Every usable address with its ENI and state (see ``AddressPool/addressStates(now:)``).
    public var addressStates: [AddressState] { pool.addressStates(now: now()) }

    /// The addresses of pods without a profile: what the no-free-ips taint and the node's
    /// capacity are about.
    public var status: Status { status(profile: nil) }

    /// The addresses of one profile's ENIs (nil: the node's own).
    public func status(profile: String?) -> Status {
        let time = now()
        return Status(configured: pool.isConfigured, total: pool.total(profile: profile), allocated: pool.allocatedCount(profile: profile),
                      free: pool.freeCount(now: time, profile: profile), coolingDown: pool.coolingDown(now: time, profile: profile),
                      nextFreeAt: pool.nextFreeAt(now: time))
    }

    /// Each profile the node carries, with its addresses.
    public var profileStatuses: [(profile: String, status: Status)] { pool.profiles.map { ($0, status(profile: $0)) } }
}
