import VPCNetCore

/// `vpcnetctl max-pods`: the pods a node of an instance type runs with vpcnet — the number the
/// controller puts in the node's `k8s-vpcnet/pod-capacity` label and the kubelet's `--max-pods`
/// should be — from the generated limits table and ``PodSizing``.
public enum MaxPodsReport {
    public static func render(instanceType: String, sizing: PodSizing) throws(UsageError) -> String {
        let (_, target) = try sized(instanceType, sizing)
        return String(sizing.podCapacity(podAddresses: target.podAddresses))
    }

    /// The arithmetic behind the number, for `--explain`.
    public static func explain(instanceType: String, sizing: PodSizing) throws(UsageError) -> String {
        let (limits, target) = try sized(instanceType, sizing)
        let enis = limits.maxENIsOnDefaultCard, perENI = limits.ipv4AddressesPerENI
        let prefixes = target.addressesPerSlot > 1
        let unit = prefixes ? "/28 prefixes of 16 addresses" : "addresses"
        var lines = ["\(instanceType): \(enis) ENIs on the default network card, \(perENI) IPv4 addresses each (\(limits.hypervisor.rawValue) hypervisor)",
                     "at most: (\(enis) − 1 ENIs for pods) × (\(perENI) − 1 secondary \(unit)) = \(limits.maxPodAddresses(prefixDelegation: prefixes) ?? 0) pod addresses",
                     "needed for max-pods \(sizing.maxPods): \(sizing.maxPods) − \(PodSizing.hostNetworkPods) host-network pods = \(sizing.neededAddresses) pod addresses"]
        if let cap = sizing.maxENIs { lines.append("max-enis \(cap): at most \(max(0, cap - 1)) pod ENIs") }
        lines.append("given: \(target.podENIs) pod ENIs with \(target.slotsPerENI.map(String.init).joined(separator: " + ")) \(unit) = \(target.podAddresses) pod addresses")
        lines.append("pods = min(\(sizing.maxPods), \(target.podAddresses) + \(PodSizing.hostNetworkPods)) = \(sizing.podCapacity(podAddresses: target.podAddresses))")
        let singles = target.podENIs + (prefixes ? 0 : target.podAddresses)
        lines.append("subnet addresses taken: \(singles)\(prefixes ? " + \(target.podAddresses) in prefixes" : "") (each pod ENI's primary address too)")
        return lines.joined(separator: "\n")
    }

    private static func sized(_ instanceType: String, _ sizing: PodSizing) throws(UsageError) -> (InstanceTypeLimits, PodSizing.Target) {
        guard let limits = InstanceTypeLimits.forType(instanceType) else {
            throw UsageError("unknown instance type \"\(instanceType)\" (the table is from \(InstanceTypeLimits.tableSource), \(InstanceTypeLimits.tableDataDate)); newer types: the controller asks DescribeInstanceTypes")
        }
        guard PodSizing.maxPodsRange.contains(sizing.maxPods) else {
            throw UsageError("--max-pods must be \(PodSizing.maxPodsRange.lowerBound)…\(PodSizing.maxPodsRange.upperBound), got \(sizing.maxPods)")
        }
        if let cap = sizing.maxENIs, !(1...32).contains(cap) {
            throw UsageError("--max-enis must be 0 (the type's limit) or 1…32, got \(cap)")
        }
        guard let target = sizing.target(for: limits) else {
            throw UsageError("\(instanceType) does not support prefix delegation (\(limits.hypervisor.rawValue) hypervisor; Nitro types and bare metal do)")
        }
        return (limits, target)
    }
}
