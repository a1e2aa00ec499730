import AWSEC2
import VPCNetCore

/// Where new ENIs go and what they carry: the node's own subnet choice and the instance's groups,
/// or a NetworkProfile's.
struct Placement: Sendable {
    var subnetID: String
    var groups: [String]
    /// Tagged on the ENI (``WellKnown/ENITags/profile``); nil for the node's own.
    var profile: String?
}

/// One profile's plan in a provisioning pass.
struct ProfileStep: Sendable {
    var profile: ProfileSpec
    var plan: ProvisioningPlan
}

/// The profiles of one provisioning call: their plans each pass, the placements found for them,
/// and the problems that set a profile aside (reported; the node and other profiles go on).
struct ProfileWork: Sendable {
    let profiles: [ProfileSpec]
    private(set) var problems: [String: String] = [:]
    private var placements: [String: Placement] = [:]

    init(profiles: [ProfileSpec]) { self.profiles = profiles.sorted { $0.name < $1.name } }

    mutating func setAside(_ profile: String, _ problem: String) { problems[profile] = problem }

    /// Plans each profile not set aside, on device indexes that neither the instance's other
    /// ENIs, the node's own (attached or about to be) nor another profile hold. A profile's
    /// attached ENIs whose groups differ from the profile's are given its groups.
    mutating func plan(instanceID: String, maxENIs: Int, limits: InstanceTypeLimits, occupied: Set<Int>, own: ProvisioningPlan,
                       owned all: [NodeProvisioner.Found], skippingDeleteOnTermination done: Set<String>) -> [ProfileStep] {
        func index(_ action: ProvisioningAction) -> Int? {
            switch action {
            case .createAndAttach(let deviceIndex, _), .attach(_, let deviceIndex): deviceIndex
            default: nil
            }
        }
        let attachedHere = { (found: NodeProvisioner.Found) in found.summary.attachment?.instanceID == instanceID }
        var taken = occupied.union(all.filter { $0.profile == nil && attachedHere($0) }.compactMap(\.summary.attachment?.deviceIndex))
        taken.formUnion(own.actions.compactMap(index))
        taken.formUnion(all.filter { $0.profile != nil && attachedHere($0) }.compactMap(\.summary.attachment?.deviceIndex))
        var steps: [ProfileStep] = []
        for profile in profiles where problems[profile.name] == nil {
            let mine = all.filter { $0.profile == profile.name }
            guard let target = profile.target(for: limits) else {
                problems[profile.name] = "prefix delegation is on for the profile, but instance type \(limits.instanceType) (\(limits.hypervisor.rawValue)) has no /28 prefixes"
                continue
            }
            let held = Set(mine.filter(attachedHere).compactMap(\.summary.attachment?.deviceIndex))
            var plan = ProvisioningPlan.make(instanceID: instanceID, maxENIs: maxENIs, target: target,
                                             occupiedByOthers: taken.subtracting(held), owned: mine.map(\.summary))
            plan.actions.removeAll { action in
                if case .setDeleteOnTermination(let id, _) = action { return done.contains(id) }
                return false
            }
            let placed = held.count + plan.actions.count { index($0) != nil }
            if placed < profile.enisPerNode {
                problems[profile.name] = "no free device index for \(profile.enisPerNode - placed) of its \(profile.enisPerNode) ENIs "
                    + "(instance type \(limits.instanceType) has \(maxENIs), the node's own ENIs and other profiles hold the rest)"
            }
            let groups = Set(profile.securityGroupIDs)
            for found in mine where attachedHere(found) && Set(found.eni.groups.map(\.id)) != groups {
                plan.actions.append(.setSecurityGroups(eniID: found.eni.id, profile.securityGroupIDs))
            }
            taken.formUnion(plan.actions.compactMap(index))
            steps.append(ProfileStep(profile: profile, plan: plan))
        }
        return steps
    }

    func placement(of profile: String) -> Placement? { placements[profile] }
    mutating func remember(_ placement: Placement) { if let name = placement.profile { placements[name] = placement } }
}

extension NodeProvisioner {
    /// The subnet a profile's new ENIs go into on this instance: its entry for the instance's zone,
    /// by ID (which must be in that zone and VPC) or by tags (the matching subnet of the zone with
    /// the most free addresses).
    func placement(for profile: ProfileSpec, instance: Instance) async throws(ProvisioningError) -> Placement {
        let zone = instance.availabilityZone ?? ""
        guard let choice = profile.subnetChoice(zone: zone) else {
            throw .noUsableSubnet("the profile lists no subnet for zone \(zone)")
        }
        let chosen: String
        if let id = choice.id {
            let subnet = try await subnet(id)
            guard subnet.availabilityZone == zone, subnet.vpcID == instance.vpcID else {
                throw .noUsableSubnet("subnet \(id) is in \(subnet.availabilityZone) of \(subnet.vpcID), not in the node's zone \(zone) of \(instance.vpcID ?? "?")")
            }
            chosen = id
        } else {
            var filters = choice.tags.sorted { $0.key < $1.key }.map { Filter("tag:\($0.key)", [$0.value]) }
            filters.append(Filter("availability-zone", [zone]))
            if let vpc = instance.vpcID { filters.append(Filter("vpc-id", [vpc])) }
            let candidates = try await call(.describeSubnets) { () async throws(EC2Error) in try await self.ec2.describeSubnets(filters: filters) }
            guard let best = candidates.filter({ $0.availableIPAddressCount > 0 })
                .max(by: { ($0.availableIPAddressCount, $1.id) < ($1.availableIPAddressCount, $0.id) }) else {
                throw .noUsableSubnet("no subnet tagged \(choice.tags) with free addresses in \(zone)")
            }
            chosen = best.id
        }
        return Placement(subnetID: chosen, groups: profile.securityGroupIDs, profile: profile.name)
    }

    /// Applies one profile's steps; whatever fails sets the profile aside with the reason.
    func applyProfile(_ step: ProfileStep, nodeName: String, instance: Instance, subnets: [String: String],
                      work: inout ProfileWork) async -> Applied {
        let name = step.profile.name
        let creates = step.plan.actions.contains { if case .createAndAttach = $0 { true } else { false } }
        var placement = work.placement(of: name) ?? Placement(subnetID: "", groups: step.profile.securityGroupIDs, profile: name)
        if creates && work.placement(of: name) == nil {
            do {
                placement = try await self.placement(for: step.profile, instance: instance)
                work.remember(placement)
            } catch {
                work.setAside(name, "\(error)")
                return Applied()
            }
        }
        do {
            let applied = try await apply(step.plan.actions, nodeName: nodeName, instance: instance, subnets: subnets, placement: placement)
            if let failure = applied.failure { work.setAside(name, "\(failure)") }
            return applied
        } catch {
            work.setAside(name, "\(error)")
            return Applied()
        }
    }
}
