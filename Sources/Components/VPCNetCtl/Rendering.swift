import VPCNetCore

/// A bad argument to a vpcnetctl command: printed as is, nothing written.
public struct UsageError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The committed deploy files with an operator's choices filled in. Only the image references
/// and the cluster name change; everything else is printed as committed.
public enum DeployRenderer {
    /// The image the committed manifests name.
    public static let committedImage = "ghcr.io/k8s-vpcnet/vpcnet:0.1.0"
    static let clusterNameLine = "    cluster-name: \"\""
    static let policyPlaceholder = "\"CLUSTER_NAME\""

    public static func manifests(repository: String = "ghcr.io/k8s-vpcnet/vpcnet", tag: String, clusterName: String?) throws(UsageError) -> String {
        guard isTag(tag) else { throw UsageError("--image-tag \"\(tag)\" is not an image tag (letters, digits, _ . -, at most 128, not starting with . or -)") }
        guard isRepository(repository) else { throw UsageError("--image \"\(repository)\" is not an image repository (e.g. registry.example.com/vpcnet)") }
        var text = DeployFiles.manifests.replacing(committedImage, with: "\(repository):\(tag)")
        if let clusterName {
            try checkClusterName(clusterName)
            guard text.contains(clusterNameLine) else { throw UsageError("the committed manifests have no cluster-name line to fill in") }
            text = text.replacing(clusterNameLine, with: "    cluster-name: \"\(clusterName)\"")
        }
        return text
    }

    /// The IAM policy, scoped to `clusterName` (nil: the committed template, with CLUSTER_NAME).
    public static func iamPolicy(clusterName: String?) throws(UsageError) -> String {
        guard let clusterName else { return DeployFiles.iamPolicy }
        try checkClusterName(clusterName)
        return DeployFiles.iamPolicy.replacing(policyPlaceholder, with: "\"\(clusterName)\"")
    }

    /// The controller's own rule for cluster names, which also keeps them safe inside YAML and
    /// JSON string literals.
    static func checkClusterName(_ name: String) throws(UsageError) {
        guard !name.isEmpty, name.count <= 255, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:/".contains($0)) }) else {
            throw UsageError("--cluster-name \"\(name)\" must be 1…255 letters, digits and - _ . : /")
        }
    }

    static func isTag(_ tag: String) -> Bool {
        guard let first = tag.first, tag.count <= 128, first != ".", first != "-" else { return false }
        return tag.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
    }

    static func isRepository(_ repository: String) -> Bool {
        guard let first = repository.first, let last = repository.last, first != "/", last != "/" else { return false }
        return repository.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "._-/:".contains($0)) } && !repository.contains("//")
    }
}

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
