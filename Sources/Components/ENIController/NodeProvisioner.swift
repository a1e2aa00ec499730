import AWSEC2
import Foundation
import Logging
import Synchronization
import VPCNetCore

/// Why a node is not provisioned yet. `retryAfter` is a hint for the work queue; permanent
/// problems still retry, with the queue's growing backoff, because an operator may fix them.
public enum ProvisioningError: Error, Sendable, CustomStringConvertible {
    case instanceNotFound(String)
    case instanceNotRunning(String, state: String)
    case unknownInstanceType(String)
    /// Prefix delegation was asked for on a type without it (Xen).
    case noPrefixDelegation(String, hypervisor: String)
    case noUsableSubnet(String)
    /// The subnet has no free address for the ENI's addresses (passed over for the subnet backoff).
    case noFreeAddresses(subnetID: String)
    /// The node's subnet ran out of addresses before the node had the fewest it may start with.
    case shortOfAddresses(Shortfall)
    /// EC2 is finishing a transition (an attachment, a detachment): look again shortly.
    case inProgress(String)
    /// Steps were applied but EC2 keeps reporting the old state: back off (something else is changing it).
    case notConverging(String)
    case ec2(EC2Error, action: EC2Action)

    public var description: String {
        switch self {
        case .instanceNotFound(let id): "instance \(id) not found in EC2"
        case .instanceNotRunning(let id, let state): "instance \(id) is \(state), not running"
        case .unknownInstanceType(let type): "instance type \(type) is unknown to vpcnet and to DescribeInstanceTypes"
        case .noPrefixDelegation(let type, let hypervisor):
            "instance type \(type) (\(hypervisor) hypervisor) cannot have /28 prefixes; Nitro types and bare metal can"
        case .noUsableSubnet(let detail): "no usable subnet: \(detail)"
        case .noFreeAddresses(let subnetID): "subnet \(subnetID) has no free addresses (retrying later)"
        case .shortOfAddresses(let shortfall):
            "subnet \(shortfall.subnetID) has no free addresses: the node has \(shortfall.got) of the \(shortfall.needs) pod addresses it needs and waits for at least \(shortfall.minimum) (min-pods)"
        case .inProgress(let detail): "waiting for EC2: \(detail)"
        case .notConverging(let detail): "not converging: \(detail)"
        case .ec2(let error, let action): "\(action.rawValue) failed: \(error)"
        }
    }

    /// The IAM permission an `UnauthorizedOperation` names, for the Event that tells the operator.
    public var missingPermission: String? {
        guard case .ec2(let error, let action) = self, error.code == .unauthorizedOperation else { return nil }
        return "ec2:\(action.rawValue)"
    }
}

/// A node given fewer pod addresses than it is sized for, because its subnet ran out.
public struct Shortfall: Hashable, Sendable {
    public var subnetID: String
    /// Pod addresses the node has on its attached ENIs.
    public var got: Int
    /// Pod addresses its sizing asks for.
    public var needs: Int
    /// The fewest it may start with (``PodSizing/minimumAddresses``).
    public var minimum: Int
    /// ENIs of this pass given single addresses before the subnet ran out (their Events still go out).
    public var fallbacks: [PrefixFallback] = []
}

/// Settings the provisioner needs (a slice of ``ControllerConfiguration``).
public struct ProvisionerSettings: Sendable {
    public var clusterName: String
    /// When set, ENIs go into subnets with these tags in the instance's AZ (most free addresses
    /// first) instead of the instance's own subnet.
    public var subnetTags: [String: String]
    /// How long a subnet that ran out of addresses is passed over.
    public var subnetBackoff: Duration

    public init(clusterName: String, subnetTags: [String: String] = [:], subnetBackoff: Duration = .seconds(300)) {
        self.clusterName = clusterName
        self.subnetTags = subnetTags
        self.subnetBackoff = subnetBackoff
    }
}

/// Talks to EC2 for one node at a time: learns the instance, plans with ``ProvisioningPlan``,
/// applies the steps (independent ENIs concurrently), and derives the node network record from
/// what EC2 then reports. Holds only caches of facts that do not change (instance type limits,
/// subnet and VPC CIDRs) and which subnets are out of addresses; no node state lives here.
public final class NodeProvisioner: Sendable {
    public let ec2: EC2Client
    public let settings: ProvisionerSettings
    let logger: Logger
    private let typeCache = Mutex<[String: InstanceTypeLimits]>([:])
    private let subnetCache = Mutex<[String: Subnet]>([:])
    private let vpcCache = Mutex<[String: [IPv4CIDR]]>([:])
    let exhaustedSubnets = Mutex<[String: ContinuousClock.Instant]>([:])
    /// Subnets that refused prefixes (no free aligned /28), until when, and the free /28s counted then.
    let prefixlessSubnets = Mutex<[String: (until: ContinuousClock.Instant, freePrefixes: Int?)]>([:])

    /// The built-in limits (the generated table); replaceable so tests can take the DescribeInstanceTypes path.
    let knownLimits: @Sendable (String) -> InstanceTypeLimits?

    public init(ec2: EC2Client, settings: ProvisionerSettings, logger: Logger = Logger(label: "vpcnet.eni-controller"),
                knownLimits: @escaping @Sendable (String) -> InstanceTypeLimits? = InstanceTypeLimits.forType) {
        self.ec2 = ec2
        self.settings = settings
        self.logger = logger
        self.knownLimits = knownLimits
    }

    /// What a provisioning pass did, for Events and logs.
    public struct Outcome: Sendable {
        public var record: NodeNetworkRecord
        public var created: [String] = []
        public var attached: [String] = []
        /// ENIs given single addresses because their subnet had no free /28 for the prefixes asked.
        public var fallbacks: [PrefixFallback] = []
        /// Set when the node starts with fewer addresses than it needs (at least
        /// ``PodSizing/minimumAddresses``): provisioning goes on when the subnet has addresses again.
        public var shortfall: Shortfall?
        /// Profiles the node could not be given (by name): a missing subnet or group, no room for
        /// their ENIs. The node and its other profiles go ahead without them.
        public var profileProblems: [String: String] = [:]
    }

    /// Brings the instance to the addresses `sizing` gives its type, and to the ENIs of each of
    /// `profiles` (those that select the node), and returns the record of it. Throws
    /// ``ProvisioningError/inProgress(_:)`` while EC2 finishes transitions. A profile's own
    /// failure is reported in ``Outcome/profileProblems`` and stops nothing else.
    public func provision(nodeName: String, instanceID: InstanceID, sizing: PodSizing,
                          profiles: [ProfileSpec] = []) async throws(ProvisioningError) -> Outcome {
        var created: [String] = [], attached: [String] = [], fallbacks: [PrefixFallback] = []
        // The instance is read once: its type, subnet, groups and primary ENI do not change, and
        // what later passes must see (our ENIs' attachments) comes from DescribeNetworkInterfaces.
        let instance = try await describeInstance(instanceID)
        let limits = try await limits(for: instance.instanceType)
        // The device indexes the node's profiles need stay theirs, whether or not their ENIs exist
        // yet: the node's own ENIs stop short of them.
        var ownSizing = sizing
        let reserved = profiles.reduce(0) { $0 + $1.enisPerNode }
        if reserved > 0 { ownSizing.maxENIs = max(1, sizing.maxENIs(limits) - reserved) }
        guard let target = ownSizing.target(for: limits) else {
            throw .noPrefixDelegation(instance.instanceType, hypervisor: limits.hypervisor.rawValue)
        }
        var profileWork = ProfileWork(profiles: profiles)
        // DeleteOnTermination set in this call but not yet reported back (EC2 is eventually
        // consistent; moto never reports it) does not hold up the record.
        var deleteOnTerminationSet: Set<String> = []
        for _ in 0..<4 {
            let all = try await ownedENIs(instanceID: instanceID.rawValue)
            let owned = all.filter { $0.profile == nil }
            // Device indexes count per network card; vpcnet uses the default card (0) only.
            let occupied = Set(instance.networkInterfaces.compactMap { eni -> Int? in
                guard let attachment = eni.attachment, (attachment.networkCardIndex ?? 0) == 0,
                      !all.contains(where: { $0.eni.id == eni.id }) else { return nil }
                return attachment.deviceIndex
            } + [0])
            let profileIndexes = Set(all.filter { $0.profile != nil }.compactMap(\.summary.attachment?.deviceIndex))
            var plan = ProvisioningPlan.make(instanceID: instanceID.rawValue, maxENIs: ownSizing.maxENIs(limits),
                                             target: target, occupiedByOthers: occupied.union(profileIndexes), owned: owned.map(\.summary))
            plan.actions.removeAll { action in
                if case .setDeleteOnTermination(let id, _) = action { return deleteOnTerminationSet.contains(id) }
                return false
            }
            let profilePlans = profileWork.plan(instanceID: instanceID.rawValue, maxENIs: sizing.maxENIs(limits), limits: limits,
                                                occupied: occupied, own: plan, owned: all, skippingDeleteOnTermination: deleteOnTerminationSet)
            if plan.isComplete && profilePlans.allSatisfy(\.plan.isComplete) {
                let record = try await record(instance: instance, owned: all.map(\.eni))
                return Outcome(record: record, created: created, attached: attached, fallbacks: fallbacks,
                               profileProblems: profileWork.problems)
            }
            if plan.actions.isEmpty && profilePlans.allSatisfy(\.plan.actions.isEmpty) {
                let waiting = plan.waitingFor + profilePlans.flatMap(\.plan.waitingFor)
                throw .inProgress("ENIs \(waiting.joined(separator: ", ")) are in transition")
            }
            let subnets = Dictionary(all.map { ($0.eni.id, $0.eni.subnetID) }, uniquingKeysWith: { a, _ in a })
            for step in profilePlans where !step.plan.actions.isEmpty {
                let applied = await applyProfile(step, nodeName: nodeName, instance: instance, subnets: subnets, work: &profileWork)
                created += applied.created
                attached += applied.attached
                fallbacks += applied.fallbacks
                deleteOnTerminationSet.formUnion(applied.deleteOnTerminationSet)
            }
            let result: Applied
            do {
                result = plan.actions.isEmpty ? Applied() : try await apply(plan.actions, nodeName: nodeName, instance: instance, subnets: subnets)
            } catch {
                result = Applied(failure: error)
            }
            created += result.created
            attached += result.attached
            fallbacks += result.fallbacks
            deleteOnTerminationSet.formUnion(result.deleteOnTerminationSet)
            if let failure = result.failure {
                guard case .noFreeAddresses(let subnetID) = failure else { throw failure }
                let (record, shortfall) = try await short(of: subnetID, instance: instance, sizing: sizing, target: target,
                                                          fallbacks: fallbacks)
                return Outcome(record: record, created: created, attached: attached, fallbacks: fallbacks, shortfall: shortfall,
                               profileProblems: profileWork.problems)
            }
        }
        throw .notConverging("EC2 did not reflect the changes after four passes")
    }

    /// The subnet ran out part-way: the node starts with what its attached ENIs hold if that is
    /// at least the sizing's minimum; otherwise it stays gated, and the error says how far it got.
    private func short(of subnetID: String, instance: Instance, sizing: PodSizing, target: PodSizing.Target,
                       fallbacks: [PrefixFallback]) async throws(ProvisioningError) -> (NodeNetworkRecord, Shortfall) {
        let owned = try await ownedENIs(instanceID: instance.id).map(\.eni)
        let record = try await record(instance: instance, owned: owned)
        let shortfall = Shortfall(subnetID: subnetID, got: record.podENIs(profile: nil).flatMap(\.podAddresses).count,
                                  needs: min(sizing.neededAddresses, target.podAddresses), minimum: sizing.minimumAddresses,
                                  fallbacks: fallbacks)
        guard shortfall.got > 0, shortfall.got >= shortfall.minimum, shortfall.minimum < shortfall.needs else {
            throw .shortOfAddresses(shortfall)
        }
        return (record, shortfall)
    }

    // MARK: Facts

    func describeInstance(_ id: InstanceID) async throws(ProvisioningError) -> Instance {
        let instances = try await call(.describeInstances) { () async throws(EC2Error) in try await self.ec2.describeInstances(ids: [id.rawValue]) }
        guard let instance = instances.first else { throw .instanceNotFound(id.rawValue) }
        guard instance.state == "running" else {
            if instance.state == "pending" { throw .inProgress("instance \(id) is pending") }
            throw .instanceNotRunning(id.rawValue, state: instance.state)
        }
        return instance
    }

    /// The generated table, else DescribeInstanceTypes once per type.
    func limits(for type: String) async throws(ProvisioningError) -> InstanceTypeLimits {
        if let known = knownLimits(type) ?? typeCache.withLock({ $0[type] }) { return known }
        let infos = try await call(.describeInstanceTypes) { () async throws(EC2Error) in try await self.ec2.describeInstanceTypes([type]) }
        guard let info = infos.first(where: { $0.instanceType == type }) else { throw .unknownInstanceType(type) }
        let defaultCard = info.networkCards.first(where: { $0.networkCardIndex == info.defaultNetworkCardIndex })
        let limits = InstanceTypeLimits(
            instanceType: type, maxENIs: info.maximumNetworkInterfaces, ipv4AddressesPerENI: info.ipv4AddressesPerInterface,
            hypervisor: InstanceTypeLimits.Hypervisor(rawValue: info.hypervisor ?? "-") ?? .none, isBareMetal: info.bareMetal,
            networkCards: max(1, info.networkCards.count), maxENIsOnDefaultCard: defaultCard?.maximumNetworkInterfaces ?? info.maximumNetworkInterfaces)
        typeCache.withLock { $0[type] = limits }
        return limits
    }

    struct Found: Sendable {
        var eni: NetworkInterface
        var summary: OwnedENI
        /// The NetworkProfile the ENI is for (its tag); nil: the node's own.
        var profile: String? { eni.tags.first { $0.key == WellKnown.ENITags.profile }?.value }
    }

    /// Our ENIs for this instance, found by tag: the only memory the controller needs survives in EC2.
    func ownedENIs(instanceID: String) async throws(ProvisioningError) -> [Found] {
        let filters = [Filter("tag:\(WellKnown.ENITags.cluster)", [settings.clusterName]),
                       Filter("tag:\(WellKnown.ENITags.instanceID)", [instanceID])]
        let enis = try await call(.describeNetworkInterfaces) { () async throws(EC2Error) in try await self.ec2.describeNetworkInterfaces(filters: filters) }
        return enis.map { eni in
            Found(eni: eni, summary: OwnedENI(
                id: eni.id, status: eni.status,
                attachment: eni.attachment.flatMap { a in
                    a.instanceID.map { .init(id: a.id, instanceID: $0, deviceIndex: a.deviceIndex, status: a.status,
                                             deleteOnTermination: a.deleteOnTermination) }
                },
                secondaryIPCount: eni.secondaryIPAddresses.count, prefixCount: eni.ipv4Prefixes.count))
        }
    }

    func subnet(_ id: String) async throws(ProvisioningError) -> Subnet {
        if let cached = subnetCache.withLock({ $0[id] }) { return cached }
        let subnets = try await call(.describeSubnets) { () async throws(EC2Error) in try await self.ec2.describeSubnets(ids: [id]) }
        guard let subnet = subnets.first else { throw .noUsableSubnet("subnet \(id) not found") }
        subnetCache.withLock { $0[id] = subnet }
        return subnet
    }

    func vpcCIDRs(_ id: String) async throws(ProvisioningError) -> [IPv4CIDR] {
        if let cached = vpcCache.withLock({ $0[id] }) { return cached }
        let vpcs = try await call(.describeVpcs) { () async throws(EC2Error) in try await self.ec2.describeVPCs(ids: [id]) }
        guard let vpc = vpcs.first else { throw .noUsableSubnet("VPC \(id) not found") }
        let cidrs = (vpc.cidrBlocks.isEmpty ? [vpc.cidrBlock] : vpc.cidrBlocks).compactMap { try? IPv4CIDR(parsing: $0) }
        vpcCache.withLock { $0[id] = cidrs }
        return cidrs
    }

    /// The subnet new ENIs go into: the instance's own, or the tagged subnet of its AZ with the most free addresses.
    func subnetForNewENI(instance: Instance) async throws(ProvisioningError) -> String {
        let now = ContinuousClock.now
        let exhausted = exhaustedSubnets.withLock { map in
            map = map.filter { $0.value > now }
            return Set(map.keys)
        }
        if settings.subnetTags.isEmpty {
            guard let own = instance.subnetID else { throw .noUsableSubnet("instance \(instance.id) reports no subnet") }
            if exhausted.contains(own) { throw .noFreeAddresses(subnetID: own) }
            return own
        }
        var filters = settings.subnetTags.sorted { $0.key < $1.key }.map { Filter("tag:\($0.key)", [$0.value]) }
        if let zone = instance.availabilityZone { filters.append(Filter("availability-zone", [zone])) }
        if let vpc = instance.vpcID { filters.append(Filter("vpc-id", [vpc])) }
        let candidates = try await call(.describeSubnets) { () async throws(EC2Error) in try await self.ec2.describeSubnets(filters: filters) }
        guard let best = candidates.filter({ !exhausted.contains($0.id) && $0.availableIPAddressCount > 0 })
            .max(by: { ($0.availableIPAddressCount, $1.id) < ($1.availableIPAddressCount, $0.id) }) else {
            throw .noUsableSubnet("no subnet tagged \(settings.subnetTags) with free addresses in \(instance.availabilityZone ?? "the instance's zone")")
        }
        return best.id
    }

    // MARK: Steps

    struct Applied: Sendable {
        var created: [String] = []
        var attached: [String] = []
        var deleteOnTerminationSet: [String] = []
        var fallbacks: [PrefixFallback] = []
        /// The first step's error; what the other steps did is still recorded above.
        var failure: ProvisioningError?
    }

    /// Runs the plan's steps concurrently; each ENI's steps run in order. The first error comes
    /// back in ``Applied/failure`` after every step has finished, with what the others did.
    /// `subnets`: the subnet of each ENI of ours, for the fallback of an assignment.
    /// `placement`: where new ENIs go and with which groups (a profile's); nil: the node's own subnet choice and the instance's groups.
    func apply(_ actions: [ProvisioningAction], nodeName: String, instance: Instance,
               subnets: [String: String], placement: Placement? = nil) async throws(ProvisioningError) -> Applied {
        let needsSubnet = actions.contains { if case .createAndAttach = $0 { true } else { false } }
        var chosen = placement ?? Placement(subnetID: "", groups: instance.securityGroups.map(\.id), profile: nil)
        if needsSubnet && placement == nil { chosen.subnetID = try await subnetForNewENI(instance: instance) }
        let target = chosen
        let results = await withTaskGroup(of: Result<Applied, ProvisioningError>.self) { group in
            for action in actions {
                group.addTask {
                    do throws(ProvisioningError) {
                        return .success(try await self.apply(action, nodeName: nodeName, instance: instance, placement: target,
                                                             subnets: subnets))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var all: [Result<Applied, ProvisioningError>] = []
            for await result in group { all.append(result) }
            return all
        }
        var applied = Applied()
        for result in results {
            switch result {
            case .success(let step):
                applied.created += step.created
                applied.attached += step.attached
                applied.deleteOnTerminationSet += step.deleteOnTerminationSet
                applied.fallbacks += step.fallbacks
            case .failure(let error):
                applied.failure = applied.failure ?? error
            }
        }
        return applied
    }

    private func apply(_ action: ProvisioningAction, nodeName: String, instance: Instance,
                       placement: Placement, subnets: [String: String]) async throws(ProvisioningError) -> Applied {
        switch action {
        case .createAndAttach(let deviceIndex, let addresses):
            var tags = [Tag(key: WellKnown.ENITags.cluster, value: settings.clusterName),
                        Tag(key: WellKnown.ENITags.nodeName, value: nodeName),
                        Tag(key: WellKnown.ENITags.instanceID, value: instance.id),
                        Tag(key: WellKnown.ENITags.createdAt, value: ISO8601DateFormatter().string(from: Date()))]
            // Tagged in the create call itself: an ENI of a profile is never, even for a moment, one of the node's own.
            if let profile = placement.profile { tags.append(Tag(key: WellKnown.ENITags.profile, value: profile)) }
            let request = EC2Client.CreateNetworkInterfaceRequest(
                subnetID: placement.subnetID, securityGroupIDs: placement.groups, description: WellKnown.eniDescriptionPrefix + nodeName, tags: tags)
            let (eni, fallback) = try await createENI(request, addresses)
            logger.info("created ENI", metadata: ["node": "\(nodeName)", "eni": "\(eni.id)", "deviceIndex": "\(deviceIndex)"])
            var applied = try await attach(eni.id, deviceIndex: deviceIndex, instanceID: instance.id)
            applied.created.append(eni.id)
            applied.fallbacks += fallback.map { [$0] } ?? []
            return applied
        case .attach(let eniID, let deviceIndex):
            return try await attach(eniID, deviceIndex: deviceIndex, instanceID: instance.id)
        case .setDeleteOnTermination(let eniID, let attachmentID):
            try await call(.modifyNetworkInterfaceAttribute) { () async throws(EC2Error) in
                try await self.ec2.modifyNetworkInterfaceAttribute(id: eniID, .deleteOnTermination(attachmentID: attachmentID, true))
            }
            return Applied(deleteOnTerminationSet: [eniID])
        case .assignAddresses(let eniID, let addresses):
            let fallback = try await assign(addresses, to: eniID, subnetID: subnets[eniID] ?? "")
            return Applied(fallbacks: fallback.map { [$0] } ?? [])
        case .delete(let eniID):
            try await call(.deleteNetworkInterface) { () async throws(EC2Error) in try await self.ec2.deleteNetworkInterface(id: eniID) }
            return Applied()
        case .setSecurityGroups(let eniID, let groups):
            try await call(.modifyNetworkInterfaceAttribute) { () async throws(EC2Error) in
                try await self.ec2.modifyNetworkInterfaceAttribute(id: eniID, .securityGroups(groups))
            }
            return Applied()
        }
    }

    private func attach(_ eniID: String, deviceIndex: Int, instanceID: String) async throws(ProvisioningError) -> Applied {
        let attachmentID = try await call(.attachNetworkInterface) { () async throws(EC2Error) in
            try await self.ec2.attachNetworkInterface(id: eniID, instanceID: instanceID, deviceIndex: deviceIndex)
        }
        // Set at once, so an instance terminated from here on takes the ENI with it.
        try await call(.modifyNetworkInterfaceAttribute) { () async throws(EC2Error) in
            try await self.ec2.modifyNetworkInterfaceAttribute(id: eniID, .deleteOnTermination(attachmentID: attachmentID, true))
        }
        return Applied(attached: [eniID], deleteOnTerminationSet: [eniID])
    }

    // MARK: Record

    /// The record, from EC2's answers only: the instance's primary ENI and our attached ENIs.
    func record(instance: Instance, owned: [NetworkInterface]) async throws(ProvisioningError) -> NodeNetworkRecord {
        guard let vpcID = instance.vpcID, let zone = instance.availabilityZone else {
            throw .instanceNotFound("\(instance.id) (no VPC or zone reported)")
        }
        var enis: [NodeNetworkRecord.ENI] = []
        let primary = instance.networkInterfaces.filter { $0.attachment?.deviceIndex == 0 && ($0.attachment?.networkCardIndex ?? 0) == 0 }
        let ours = owned.filter { $0.attachment?.instanceID == instance.id }
        for eni in primary + ours {
            guard let attachment = eni.attachment else { continue }
            let subnet = try await subnet(eni.subnetID)
            do {
                guard let mac = MACAddress(eni.macAddress) else { throw ConfigurationError("MAC address \(eni.macAddress) unreadable") }
                let cidr = try IPv4CIDR(parsing: subnet.cidrBlock)
                enis.append(NodeNetworkRecord.ENI(
                    id: try NetworkInterfaceID(parsing: eni.id), macAddress: mac,
                    deviceIndex: attachment.deviceIndex, subnetID: try SubnetID(parsing: eni.subnetID), subnetCIDR: cidr,
                    gateway: cidr.awsGateway, securityGroupIDs: try eni.groups.map { try SecurityGroupID(parsing: $0.id) },
                    primaryIP: try IPv4Address(parsing: eni.privateIPAddress),
                    secondaryIPs: attachment.deviceIndex == 0 ? [] : try eni.secondaryIPAddresses.map { try IPv4Address(parsing: $0) },
                    ipv4Prefixes: attachment.deviceIndex == 0 ? [] : try eni.ipv4Prefixes.map { try IPv4CIDR(parsing: $0) },
                    profile: attachment.deviceIndex == 0 ? nil : eni.tags.first { $0.key == WellKnown.ENITags.profile }?.value))
            } catch {
                throw .ec2(.invalidResponse(status: 200, detail: "ENI \(eni.id): \(error)"), action: .describeNetworkInterfaces)
            }
        }
        let vpcCIDRs = try await vpcCIDRs(vpcID)
        let record: NodeNetworkRecord
        do {
            record = NodeNetworkRecord(instanceID: try InstanceID(parsing: instance.id), instanceType: instance.instanceType,
                                       availabilityZone: zone, vpcID: try VPCID(parsing: vpcID), vpcCIDRs: vpcCIDRs, enis: enis)
            try record.validate()
        } catch {
            throw .ec2(.invalidResponse(status: 200, detail: "record for \(instance.id): \(error)"), action: .describeInstances)
        }
        return record
    }

    /// Runs one EC2 call, labelling its error with the action (for Events naming a missing permission).
    func call<T: Sendable>(_ action: EC2Action, _ body: () async throws(EC2Error) -> T) async throws(ProvisioningError) -> T {
        do { return try await body() } catch { throw .ec2(error, action: action) }
    }
}
