import VPCNetCore

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
