import VPCNetCore

/// The controller's tunables. Defaults suit a production cluster; tests shorten the periods.
/// Operators set them through ``ControllerSettings``.
public struct ControllerConfiguration: Sendable {
    public var clusterName: String
    /// Concurrent node reconciles (each also runs its node's ENIs concurrently).
    public var workers = 32
    public var subnetTags: [String: String] = [:]
    /// How long a subnet that ran out of addresses (or of free /28s) is passed over.
    public var subnetBackoff: Duration = .seconds(300)
    /// Detach and delete a Node's ENIs when the Node object is deleted but its instance runs on.
    public var deleteENIsOnNodeDeletion = true
    public var sweepInterval: Duration = .seconds(300)
    /// `available` ENIs of ours younger than this are left alone by the sweep (they may be mid-attach).
    public var sweepGrace: Duration = .seconds(900)
    /// How often a provisioned node is checked against EC2 again (the informer's resync).
    public var verifyPeriod: Duration = .seconds(600)
    public var queueBackoff = Backoff(base: .milliseconds(200), cap: .seconds(300))
    /// The kubelet `--max-pods` nodes are sized for (a Node's `k8s-vpcnet/max-pods` label overrides it).
    public var maxPods = PodSizing.defaultMaxPods
    /// ENIs a node may have, its primary included; 0: as many as its type takes.
    public var maxENIs = 0
    /// The fewest pods a node may start with when its subnet runs out first; 0: its whole allocation.
    public var minPods = 0
    /// Whether pod ENIs carry /28 prefixes; applies to nodes provisioned from now on.
    public var prefixDelegation = PodSizing.PrefixDelegation.default

    /// How a node is sized, unless its `k8s-vpcnet/max-pods` label says otherwise.
    public var podSizing: PodSizing {
        PodSizing(maxPods: maxPods, maxENIs: maxENIs == 0 ? nil : maxENIs, prefixDelegation: prefixDelegation, minPods: minPods)
    }

    public init(clusterName: String) { self.clusterName = clusterName }

    /// Builds the configuration from flags, environment and settings file (each keyed by setting name).
    public static func resolve(flags: [String: String], environment: [String: String],
                               file: [String: String]) throws(ConfigurationError) -> ControllerConfiguration {
        try ControllerSettings.table.resolve(flags: flags, environment: environment, file: file)
    }
}

/// The controller's settings: one row each (see ``SettingTable``). The executable's flags are
/// generated from this table by `scripts/gen-setting-options`.
public enum ControllerSettings {
    public static let table = SettingTable(component: "eni-controller", defaults: ControllerConfiguration(clusterName: ""), settings: [
        .value("cluster-name", \.clusterName, .clusterName,
               help: "Name of this cluster; tags every ENI so the controller finds (and only touches) its own.",
               required: "a cluster name is required: --cluster-name, VPCNET_CLUSTER_NAME or cluster-name in the config file"),
        .value("workers", \.workers, .workers,
               help: "Nodes reconciled concurrently (1…256); a worker mostly waits on EC2, and the rate budget, not this, bounds the call rate."),
        .value("subnet-tags", \.subnetTags, .tags,
               help: "Put ENIs in subnets with these tags (KEY=VALUE,…) in the node's zone, most free addresses first.",
               default: "the instance's subnet"),
        .value("subnet-backoff", \.subnetBackoff, .duration,
               help: "How long a subnet out of addresses, or of free /28s for prefixes, is passed over before EC2 is asked again, e.g. 5m."),
        .value("delete-enis-on-node-deletion", \.deleteENIsOnNodeDeletion, .bool,
               help: "Detach and delete a node's ENIs when its Node object is deleted (true/false)."),
        .value("sweep-interval", \.sweepInterval, .duration, help: "How often leaked ENIs are swept, e.g. 5m."),
        .value("sweep-grace", \.sweepGrace, .duration, help: "Age before an unattached ENI of ours counts as leaked, e.g. 15m."),
        .value("verify-period", \.verifyPeriod, .duration, help: "How often a provisioned node is checked against EC2 again, e.g. 10m."),
        .value("max-pods", \.maxPods, .integer("max-pods", PodSizing.maxPodsRange),
               help: "The kubelet --max-pods nodes are sized for, host-network pods included; a node gets addresses for the rest, no more than its type holds. A Node's k8s-vpcnet/max-pods label overrides it."),
        .value("max-enis", \.maxENIs, .integer("max-enis", 0...32),
               help: "ENIs a node may have, its primary included, like Amazon's MAX_ENI; 0: as many as its instance type takes."),
        .value("prefix-delegation", \.prefixDelegation, .choice(["auto": .auto, "on": .on, "off": .off]),
               help: "Give pod ENIs /28 prefixes of 16 addresses instead of single addresses: auto (Nitro and bare-metal types), on or off. Nodes provisioned before a change keep their allocation."),
        .value("min-pods", \.minPods, .integer("min-pods", 0...PodSizing.maxPodsRange.upperBound),
               help: "When a node's subnet runs out of addresses first, the node takes pods once it has addresses for this many (host-network pods included) and gets the rest when the subnet has them; 0: a node waits for its whole allocation."),
    ])
}

extension SettingFormat where Value == String {
    /// What EC2 tag values and the IAM policy's condition accept.
    static var clusterName: Self {
        Self(parse: { (cluster, _) throws(ConfigurationError) in
                 guard cluster.count <= 255, cluster.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:/".contains($0) }) else {
                     throw ConfigurationError("cluster name \"\(cluster)\" must be at most 255 letters, digits and - _ . : /")
                 }
                 return cluster
             },
             show: { $0.isEmpty ? nil : $0 })
    }
}

extension SettingFormat where Value == Int {
    static var workers: Self { integer("workers", 1...256) }

    /// A whole number in `range`.
    static func integer(_ name: String, _ range: ClosedRange<Int>) -> Self {
        Self(parse: { (text, source) throws(ConfigurationError) in
                 guard let value = Int(text), range.contains(value) else {
                     throw ConfigurationError("\(source): \(name) must be \(range.lowerBound)…\(range.upperBound), got \(text)")
                 }
                 return value
             },
             show: { "\($0)" })
    }
}
