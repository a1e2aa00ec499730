import Kubernetes
import VPCNetCore

/// A NetworkProfile as the controller acts on it: read once from the object and checked, so a
/// profile the API server let through but vpcnet cannot use is one clear problem on its status.
public struct ProfileSpec: Hashable, Sendable {
    /// Where a profile's ENIs go in one zone: a subnet by ID, or the subnet with these tags (all
    /// must match) with the most free addresses.
    public struct SubnetChoice: Hashable, Sendable {
        public var id: String?
        /// nil: every zone.
        public var zone: String?
        public var tags: [String: String]

        public init(id: String? = nil, zone: String? = nil, tags: [String: String] = [:]) {
            self.id = id
            self.zone = zone
            self.tags = tags
        }
    }

    public var name: String
    public var generation: Int
    public var securityGroupIDs: [String]
    public var subnets: [SubnetChoice]
    /// nil: every node.
    public var nodeSelector: LabelSelector?
    public var enisPerNode: Int
    public var prefixDelegation: PodSizing.PrefixDelegation

    public init(name: String, generation: Int = 1, securityGroupIDs: [String], subnets: [SubnetChoice],
                nodeSelector: LabelSelector? = nil, enisPerNode: Int = 1, prefixDelegation: PodSizing.PrefixDelegation = .auto) {
        self.name = name
        self.generation = generation
        self.securityGroupIDs = securityGroupIDs
        self.subnets = subnets
        self.nodeSelector = nodeSelector
        self.enisPerNode = enisPerNode
        self.prefixDelegation = prefixDelegation
    }

    /// Reads the object's spec; the error names the field at fault.
    public init(_ profile: NetworkProfile) throws(ConfigurationError) {
        let spec = profile.spec
        guard NodeNetworkRecord.isProfileName(profile.name) else { throw ConfigurationError("metadata.name: \"\(profile.name)\" is not a DNS subdomain") }
        let groups = spec["securityGroupIDs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        guard !groups.isEmpty else { throw ConfigurationError("spec.securityGroupIDs: at least one security group is required") }
        for (index, group) in groups.enumerated() where (try? SecurityGroupID(parsing: group)) == nil {
            throw ConfigurationError("spec.securityGroupIDs[\(index)]: \"\(group)\" is not a security group ID")
        }
        var subnets: [SubnetChoice] = []
        for (index, entry) in (spec["subnets"]?.arrayValue ?? []).enumerated() {
            let id = entry["id"]?.stringValue
            let tags = (entry["tags"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
            if let id, (try? SubnetID(parsing: id)) == nil { throw ConfigurationError("spec.subnets[\(index)].id: \"\(id)\" is not a subnet ID") }
            guard id != nil || !tags.isEmpty else { throw ConfigurationError("spec.subnets[\(index)]: needs an id or tags") }
            subnets.append(SubnetChoice(id: id, zone: entry["zone"]?.stringValue, tags: tags))
        }
        guard !subnets.isEmpty else { throw ConfigurationError("spec.subnets: at least one subnet is required") }
        var selector: LabelSelector?
        if let object = spec["nodeSelector"] {
            do {
                selector = try LabelSelector(matchLabels: (object["matchLabels"]?.objectValue ?? [:]).compactMapValues(\.stringValue),
                                             matchExpressions: object["matchExpressions"]?.arrayValue ?? [])
            } catch {
                throw ConfigurationError("spec.nodeSelector: \(error)")
            }
        }
        var enis = 1
        if case .int(let value)? = spec["enisPerNode"] { enis = Int(value) }
        guard (1...15).contains(enis) else { throw ConfigurationError("spec.enisPerNode: \(enis) is not in 1…15") }
        let mode = spec["prefixDelegation"]?.stringValue ?? "auto"
        guard let prefixes = PodSizing.PrefixDelegation(rawValue: mode) else {
            throw ConfigurationError("spec.prefixDelegation: \"\(mode)\" is not auto, on or off")
        }
        self.init(name: profile.name, generation: profile.generation, securityGroupIDs: groups, subnets: subnets,
                  nodeSelector: selector, enisPerNode: enis, prefixDelegation: prefixes)
    }

    /// Whether a node with these labels carries the profile (its zone must also have a subnet entry).
    public func selects(labels: [String: String]) -> Bool { nodeSelector?.matches(labels) ?? true }

    /// The entry for a zone: the first that names it, else the first for every zone.
    public func subnetChoice(zone: String) -> SubnetChoice? {
        subnets.first { $0.zone == zone } ?? subnets.first { $0.zone == nil }
    }

    /// The allocation each carrying node gives the profile: `enisPerNode` ENIs, each full.
    /// nil: prefixes asked for on a type without them.
    public func target(for limits: InstanceTypeLimits) -> PodSizing.Target? {
        guard let prefixes = PodSizing(prefixDelegation: prefixDelegation).usesPrefixes(limits) else { return nil }
        let slots = max(0, limits.ipv4AddressesPerENI - 1)
        return PodSizing.Target(slotsPerENI: Array(repeating: slots, count: enisPerNode),
                                addressesPerSlot: prefixes ? PodSizing.addressesPerPrefix : 1, slotsPerENILimit: slots)
    }
}
