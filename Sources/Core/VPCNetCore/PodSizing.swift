/// How many pod addresses a node is given, on how many ENIs: the node is sized to the pods it will
/// run (`maxPods`, the kubelet's `--max-pods`), not to everything its instance type could hold, so a
/// large node does not take hundreds of subnet addresses it never uses.
///
/// The controller provisions ``target(for:)``; the `k8s-vpcnet/pod-capacity` label,
/// `vpcnetctl max-pods` and the simulator's kubelet all report ``podCapacity(podAddresses:)`` —
/// one formula, so they agree.
public struct PodSizing: Hashable, Sendable {
    /// Pods that use the host's network and so no pool address, counted as the common max-pods
    /// formulas count them (Amazon's `eni-max-pods`, Cilium's `maxpods`): the CNI's own DaemonSet
    /// (vpcnet-daemon) and kube-proxy.
    public static let hostNetworkPods = 2
    /// Addresses in one delegated /28 prefix.
    public static let addressesPerPrefix = 16
    /// The kubelet's default `--max-pods`.
    public static let defaultMaxPods = 110
    /// The `max-pods` values vpcnet accepts: room for one pod beyond the host-network ones, and
    /// no more than a node of any type could address with prefixes.
    public static let maxPodsRange = (hostNetworkPods + 1)...2000

    /// The sizing with a Node's `k8s-vpcnet/max-pods` label, if it has one.
    /// - Throws: a message for the Node's Event when the label is not a number in ``maxPodsRange``.
    public func overridden(byLabel value: String?) throws(PodSizingError) -> PodSizing {
        guard let value else { return self }
        guard let pods = Int(value), Self.maxPodsRange.contains(pods) else {
            throw PodSizingError(description: "the label \(WellKnown.Labels.maxPods)=\(value) must be a number of pods, \(Self.maxPodsRange.lowerBound)…\(Self.maxPodsRange.upperBound)")
        }
        var sizing = self
        sizing.maxPods = pods
        return sizing
    }

    /// The kubelet's `--max-pods` the node is sized for (host-network pods included).
    public var maxPods: Int
    /// ENIs the node may have, its primary included, as Amazon's `MAX_ENI`; nil: the type's limit.
    public var maxENIs: Int?
    /// The fewest pods (host-network pods included) a node may start with when its subnet runs
    /// out before it has its whole allocation; 0: it waits for all of it.
    public var minPods: Int
    /// Whether each address slot of a pod ENI holds a /28 prefix rather than one address.
    public var prefixDelegation: PrefixDelegation

    /// The `prefix-delegation` setting.
    public enum PrefixDelegation: String, Hashable, Sendable, CaseIterable {
        /// On for the types that support it (Nitro and bare metal), off for Xen types.
        case auto
        /// On; a type without it is an error for its node.
        case on
        case off

        /// The controller's default: prefixes wherever the instance type has them.
        public static let `default` = PrefixDelegation.auto
    }

    public init(maxPods: Int = PodSizing.defaultMaxPods, maxENIs: Int? = nil, prefixDelegation: PrefixDelegation = .default,
                minPods: Int = 0) {
        self.maxPods = maxPods
        self.minPods = minPods
        self.maxENIs = maxENIs
        self.prefixDelegation = prefixDelegation
    }

    /// What a node of one instance type is given.
    public struct Target: Hashable, Sendable {
        /// Address slots each pod ENI fills, by position (device index 1, 2, …): full ENIs first,
        /// the last one only as full as the target needs.
        public var slotsPerENI: [Int]
        /// Addresses one slot yields: 1, or 16 with prefix delegation.
        public var addressesPerSlot: Int
        /// Slots an ENI of this type has for pods (its primary address takes one).
        public var slotsPerENILimit: Int

        public init(slotsPerENI: [Int], addressesPerSlot: Int, slotsPerENILimit: Int) {
            self.slotsPerENI = slotsPerENI
            self.addressesPerSlot = addressesPerSlot
            self.slotsPerENILimit = slotsPerENILimit
        }

        public var podENIs: Int { slotsPerENI.count }
        public var podAddresses: Int { slotsPerENI.reduce(0, +) * addressesPerSlot }
    }

    /// Pod addresses the node needs: one per pod that is not on the host network.
    public var neededAddresses: Int { max(0, maxPods - Self.hostNetworkPods) }

    /// Pod addresses a node must have before it takes pods: ``neededAddresses`` unless `minPods`
    /// allows fewer (never none).
    public var minimumAddresses: Int {
        guard minPods > 0 else { return neededAddresses }
        return min(neededAddresses, max(1, minPods - Self.hostNetworkPods))
    }

    /// Whether a node of this type gets prefixes: nil when the setting is `on` and the type has
    /// none (Xen).
    public func usesPrefixes(_ limits: InstanceTypeLimits) -> Bool? {
        switch prefixDelegation {
        case .auto: limits.supportsPrefixDelegation
        case .on: limits.supportsPrefixDelegation ? true : nil
        case .off: false
        }
    }

    /// ENIs a node of this type may have, its primary included.
    public func maxENIs(_ limits: InstanceTypeLimits) -> Int { min(limits.maxENIsOnDefaultCard, maxENIs ?? Int.max) }

    /// The allocation for `limits`, or nil when prefix delegation is asked for on a type without
    /// it (Xen). On as few ENIs as hold it, never more than the type (or `maxENIs`) allows.
    public func target(for limits: InstanceTypeLimits) -> Target? {
        guard let prefixes = usesPrefixes(limits) else { return nil }
        let perSlot = prefixes ? Self.addressesPerPrefix : 1
        let slotsPerENI = max(0, limits.ipv4AddressesPerENI - 1)
        let enis = max(0, maxENIs(limits) - 1)
        var remaining = (neededAddresses + perSlot - 1) / perSlot
        var slots: [Int] = []
        while remaining > 0, slots.count < enis, slotsPerENI > 0 {
            let take = min(slotsPerENI, remaining)
            slots.append(take)
            remaining -= take
        }
        return Target(slotsPerENI: slots, addressesPerSlot: perSlot, slotsPerENILimit: slotsPerENI)
    }

    /// The pods a node with `podAddresses` pool addresses can run: its kubelet's `--max-pods`.
    public func podCapacity(podAddresses: Int) -> Int {
        min(maxPods, podAddresses + Self.hostNetworkPods)
    }

    /// ``podCapacity(podAddresses:)`` of ``target(for:)``: what a node of the type will run.
    public func podCapacity(for limits: InstanceTypeLimits) -> Int? {
        target(for: limits).map { podCapacity(podAddresses: $0.podAddresses) }
    }
}

public struct PodSizingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
}
