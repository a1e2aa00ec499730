import VPCNetCore

/// `vpcnetctl max-pods`: the pod capacity of an instance type, from the generated limits table.
public enum MaxPodsReport {
    public static func render(instanceType: String, prefixDelegation: Bool) throws(UsageError) -> String {
        guard let limits = InstanceTypeLimits.forType(instanceType) else {
            throw UsageError("unknown instance type \"\(instanceType)\" (the table is from \(InstanceTypeLimits.tableSource), \(InstanceTypeLimits.tableDataDate)); newer types: the controller asks DescribeInstanceTypes")
        }
        guard let pods = limits.maxPods(prefixDelegation: prefixDelegation) else {
            throw UsageError("\(instanceType) does not support prefix delegation (\(limits.hypervisor.rawValue) hypervisor; Nitro types and bare metal do)")
        }
        return String(pods)
    }

    /// The arithmetic behind the number, for `--explain`.
    public static func explain(instanceType: String) throws(UsageError) -> String {
        guard let limits = InstanceTypeLimits.forType(instanceType) else { _ = try render(instanceType: instanceType, prefixDelegation: false); return "" }
        let enis = limits.maxENIsOnDefaultCard, perENI = limits.ipv4AddressesPerENI
        var lines = ["\(instanceType): \(enis) ENIs on the default network card, \(perENI) IPv4 addresses each",
                     "pods = (\(enis) − 1 ENIs for pods) × (\(perENI) − 1 secondary addresses) = \(limits.maxPods() ?? 0)"]
        if let prefixed = limits.maxPods(prefixDelegation: true) {
            lines.append("with prefix delegation: × 16 = \(prefixed) (vpcnet does not delegate prefixes yet)")
        } else {
            lines.append("prefix delegation: not available on this type")
        }
        lines.append("subnet addresses taken: \((enis - 1) * perENI) (each pod ENI's primary address too)")
        return lines.joined(separator: "\n")
    }
}
