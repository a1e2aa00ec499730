

/// Every label, annotation, taint and EC2 tag vpcnet reads or writes, in one place, so components,
/// manifests, RBAC/IAM policy and documentation cannot drift apart. The paths and ports the
/// processes of a node share are in `VPCNetContracts` (`WellKnown.Paths`, `WellKnown.Ports`).
public enum WellKnown {
    /// The prefix of every key vpcnet owns on Kubernetes objects.
    public static let domain = "k8s-vpcnet"

    public enum Labels {
        /// On a Node, set by the eni-controller: the EC2 instance ID (`i-…`). The daemon selects
        /// its own Node by name, not by this label; users and tooling can select by it.
        public static let instanceID = "k8s-vpcnet/instance-id"
        /// On a Node, set by the eni-controller: the pods the node can run — its pod addresses
        /// plus its host-network pods, at most its max-pods (``PodSizing/podCapacity(podAddresses:)``):
        /// the kubelet `--max-pods` that matches, so schedulers and autoscalers need no separate
        /// calculation.
        public static let podCapacity = "k8s-vpcnet/pod-capacity"
        /// On a Node, set by the operator (kubelet `--node-labels`, Karpenter's NodePool labels):
        /// the max-pods this node is sized for, instead of the controller's `max-pods`. Read when
        /// the node is provisioned (and verified: raising it adds addresses; nothing is taken away).
        public static let maxPods = "k8s-vpcnet/max-pods"
    }

    public enum Annotations {
        /// On a Node, written by the eni-controller and read by the daemon: the JSON
        /// ``NodeNetworkRecord`` describing the node's ENIs and addresses.
        public static let nodeNetwork = "k8s-vpcnet/node-network"
        /// On a Pod, set by its author: the NetworkProfile (docs/network-profiles.md) whose ENIs
        /// give the pod its address. Absent: the node's own ENIs.
        public static let networkProfile = "k8s-vpcnet/network-profile"
    }

    public enum Taints {
        /// Kept on a node from its registration until its daemon has configured every ENI and
        /// written the CNI configuration. Register nodes with it (`kubelet
        /// --register-with-taints=k8s-vpcnet/no-interface-configured=:NoSchedule`) to close the race
        /// before the controller first sees the node.
        public static let noInterfaceConfigured = Taint(key: "k8s-vpcnet/no-interface-configured", effect: .noSchedule)
        /// Managed by the daemon: present while the node has no free pod address.
        public static let noFreeIPs = Taint(key: "k8s-vpcnet/no-free-ips", effect: .noSchedule)
    }

    /// Tags the eni-controller puts on every ENI it creates, so it can always find (and adopt or
    /// clean up) what it made, and so IAM conditions can scope mutating calls to them.
    public enum ENITags {
        /// The cluster name; the value must equal the controller's `--cluster-name`.
        public static let cluster = "k8s-vpcnet/cluster"
        public static let nodeName = "k8s-vpcnet/node-name"
        public static let instanceID = "k8s-vpcnet/instance-id"
        /// RFC 3339 creation time, used by the leak sweep's grace period.
        public static let createdAt = "k8s-vpcnet/created-at"
        /// On an ENI of a NetworkProfile: the profile's name (absent on the node's own pod ENIs).
        public static let profile = "k8s-vpcnet/profile"
    }

    /// The prefix of the description of every ENI the controller creates (followed by the node name).
    public static let eniDescriptionPrefix = "vpcnet pod ENI for node "
}
