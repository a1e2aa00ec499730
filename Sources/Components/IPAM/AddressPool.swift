import VPCNetContracts
import VPCNetCore

/// Where an address comes from: its ENI and what a pod needs to use it.
public struct AddressSource: Hashable, Sendable {
    public var eniID: NetworkInterfaceID
    /// The ENI's primary address: the pod's gateway (the `ptp` plugin puts it on the host veth).
    public var gateway: IPv4Address
    public var prefixLength: Int
    /// The NetworkProfile the address is for; nil: pods without one.
    public var profile: String? = nil
}

public enum PoolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Every address is allocated or cooling down.
    case exhausted(total: Int, coolingDown: Int)
    /// The node's addresses are not known yet.
    case notConfigured
    /// Another attachment on this node holds a `hostPort` the attachment asks for.
    case hostPortTaken(HostPort, by: Allocation)
    /// The pod asks for a profile this node has no ENI of (`carried`: the profiles it has).
    case profileNotOnNode(String, carried: [String])
    /// Every address of the profile's ENIs is allocated or cooling down.
    case profileExhausted(String, total: Int, coolingDown: Int)

    public var description: String {
        switch self {
        case .exhausted(let total, let cooling):
            "no free address on this node: \(total - cooling) of \(total) in use, \(cooling) cooling down before reuse"
        case .notConfigured: "the node's addresses are not configured yet"
        case .hostPortTaken(let port, let holder):
            "hostPort \(port) is already taken on this node by "
                + (holder.pod.isEmpty ? "attachment \(holder.key)" : "pod \(holder.pod.namespace)/\(holder.pod.name)")
        case .profileNotOnNode(let profile, let carried):
            "this node carries no ENI of network profile \"\(profile)\" ("
                + (carried.isEmpty ? "it carries no profile" : "it carries \(carried.map { "\"\($0)\"" }.joined(separator: ", "))") + ")"
        case .profileExhausted(let profile, let total, let cooling):
            "no free address of network profile \"\(profile)\" on this node: \(total - cooling) of \(total) in use, \(cooling) cooling down before reuse"
        }
    }
}

/// The node's pod addresses and who holds them: the pure core of the IPAM (no I/O, no clock:
/// callers pass `now` in milliseconds since the epoch).
///
/// - ADD is idempotent: an attachment that holds an address gets the same one again.
/// - A released address cools down for `cooldown` before reuse (late packets and conntrack entries
///   of the old pod must not reach a new one); among free addresses the one released longest ago
///   is chosen, addresses never used first.
public struct AddressPool: Hashable, Sendable {
    public private(set) var allocations: [AttachmentKey: Allocation] = [:]
    /// When each address was last released.
    public private(set) var releasedAt: [IPv4Address: Int64] = [:]
    public private(set) var sources: [IPv4Address: AddressSource] = [:]
    public private(set) var isConfigured = false
    public var cooldownMilliseconds: Int64

    public init(cooldownMilliseconds: Int64) { self.cooldownMilliseconds = cooldownMilliseconds }

    /// Restores persisted state (before the record is known: ``configure(record:)`` reconciles it).
    public init(cooldownMilliseconds: Int64, allocations: [Allocation], releasedAt: [IPv4Address: Int64]) {
        self.cooldownMilliseconds = cooldownMilliseconds
        for allocation in allocations { self.allocations[allocation.key] = allocation }
        self.releasedAt = releasedAt
    }

    /// Takes the addresses of the record's pod ENIs; only those of `usable` ENIs (nil: all) are
    /// handed out — an ENI whose interface has not appeared keeps its allocations and cooldowns
    /// but lends nothing. Allocations of addresses no longer in the record at all are dropped
    /// (their ENI is gone) and returned.
    @discardableResult
    public mutating func configure(record: NodeNetworkRecord, usable: Set<NetworkInterfaceID>? = nil) -> [Allocation] {
        var sources: [IPv4Address: AddressSource] = [:]
        var known: Set<IPv4Address> = []
        for eni in record.podENIs {
            for address in eni.podAddresses {
                known.insert(address)
                guard usable?.contains(eni.id) ?? true else { continue }
                sources[address] = AddressSource(eniID: eni.id, gateway: eni.primaryIP, prefixLength: eni.subnetCIDR.prefixLength,
                                                 profile: eni.profile)
            }
        }
        self.sources = sources
        isConfigured = true
        let dropped = allocations.values.filter { !known.contains($0.address) }
        for allocation in dropped { allocations[allocation.key] = nil }
        releasedAt = releasedAt.filter { known.contains($0.key) }
        return dropped.sorted { $0.key < $1.key }
    }

    public func allocation(for key: AttachmentKey) -> Allocation? { allocations[key] }

    public func source(of address: IPv4Address) -> AddressSource? { sources[address] }

    /// The attachment's address and where it comes from: the one it holds, or the best free one.
    /// `changed` tells whether the state changed (and so must be persisted). An attachment whose
    /// address the pool may not hand out now (its ENI's interface is missing) gets `notConfigured`.
    /// `hostPorts` are the node ports its `hostPort`s take: refused (`hostPortTaken`, nothing
    /// allocated) when another attachment holds one, since `portmap` itself does not check.
    /// `profile` chooses the ENIs the address comes from (nil: the node's own); an attachment
    /// that already holds an address keeps it whatever it asks now.
    public mutating func allocate(_ key: AttachmentKey, pod: PodReference, hostPorts: [HostPort] = [], profile: String? = nil,
                                  now: Int64) throws(PoolError) -> (allocation: Allocation, source: AddressSource, changed: Bool) {
        guard isConfigured else { throw .notConfigured }
        if let existing = allocations[key] {
            guard let source = sources[existing.address] else { throw .notConfigured }
            return (existing, source, false)
        }
        for holder in allocations.values.sorted(by: { $0.key < $1.key }) {
            if let port = hostPorts.first(where: { wanted in holder.hostPorts.contains { $0.collides(with: wanted) } }) {
                throw .hostPortTaken(port, by: holder)
            }
        }
        if let profile, !sources.values.contains(where: { $0.profile == profile }) {
            throw .profileNotOnNode(profile, carried: profiles)
        }
        guard let address = bestFree(now: now, profile: profile), let source = sources[address] else {
            let total = total(profile: profile), cooling = coolingDown(now: now, profile: profile)
            if let profile { throw .profileExhausted(profile, total: total, coolingDown: cooling) }
            throw .exhausted(total: total, coolingDown: cooling)
        }
        let allocation = Allocation(key: key, pod: pod, address: address, allocatedAt: now, hostPorts: hostPorts.sorted())
        allocations[key] = allocation
        return (allocation, source, true)
    }

    /// Releases the attachment's address; nil (and no change) when it holds none.
    public mutating func release(_ key: AttachmentKey, now: Int64) -> Allocation? {
        guard let allocation = allocations.removeValue(forKey: key) else { return nil }
        // Recorded even before the record is known (a spooled DEL replayed at start):
        // ``configure(record:)`` forgets addresses that are not the node's.
        releasedAt[allocation.address] = now
        return allocation
    }

    /// Releases every allocation of `network` whose attachment is not in `valid` (the CNI GC verb).
    public mutating func collect(network: String, valid: Set<AttachmentKey>, now: Int64) -> [Allocation] {
        let stale = allocations.keys.filter { $0.network == network && !valid.contains($0) }.sorted()
        return stale.compactMap { release($0, now: now) }
    }

    /// The profiles whose addresses the pool hands out.
    public var profiles: [String] { Set(sources.values.compactMap(\.profile)).sorted() }

    /// Usable addresses for pods of `profile` (nil: pods without one).
    public func total(profile: String? = nil) -> Int { sources.values.count { $0.profile == profile } }
    public var allocatedCount: Int { allocations.count }

    /// Allocations on addresses for pods of `profile`.
    public func allocatedCount(profile: String?) -> Int { allocations.values.count { sources[$0.address].map { $0.profile == profile } ?? false } }

    /// Usable addresses of `profile` resting after a release.
    public func coolingDown(now: Int64, profile: String? = nil) -> Int {
        let used = Set(allocations.values.map(\.address))
        return releasedAt.count { sources[$0.key]?.profile == profile && sources[$0.key] != nil && !used.contains($0.key)
            && now - $0.value < cooldownMilliseconds }
    }

    public func freeCount(now: Int64, profile: String? = nil) -> Int {
        max(0, total(profile: profile) - allocatedCount(profile: profile) - coolingDown(now: now, profile: profile))
    }

    /// When the next cooling address becomes free (nil when none is cooling).
    public func nextFreeAt(now: Int64) -> Int64? {
        let used = Set(allocations.values.map(\.address))
        return releasedAt.filter { !used.contains($0.key) && now - $0.value < cooldownMilliseconds }.values.min().map { $0 + cooldownMilliseconds }
    }

    /// Every address the pool may hand out, with its ENI and state, in address order: what an
    /// operator sees (introspection, per-ENI metrics).
    public func addressStates(now: Int64) -> [AddressState] {
        let holders = Dictionary(allocations.values.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
        return sources.keys.sorted().map { address in
            let eni = sources[address]!.eniID
            if let allocation = holders[address] { return AddressState(address: address, eniID: eni, state: .allocated, attachment: allocation.key) }
            if let released = releasedAt[address], now - released < cooldownMilliseconds {
                return AddressState(address: address, eniID: eni, state: .coolingDown, freeAt: released + cooldownMilliseconds)
            }
            return AddressState(address: address, eniID: eni, state: .free)
        }
    }

    private func bestFree(now: Int64, profile: String?) -> IPv4Address? {
        let used = Set(allocations.values.map(\.address))
        var best: (address: IPv4Address, released: Int64)?
        for (address, source) in sources where source.profile == profile && !used.contains(address) {
            let released = releasedAt[address] ?? Int64.min
            if released != Int64.min && now - released < cooldownMilliseconds { continue }
            if let current = best, (current.released, current.address.rawValue) <= (released, address.rawValue) { continue }
            best = (address, released)
        }
        return best?.address
    }
}
