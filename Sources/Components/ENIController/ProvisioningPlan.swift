import AWSEC2
import VPCNetCore
/// What the controller knows about one ENI it created (found in EC2 by its tags).
public struct OwnedENI: Hashable, Sendable {
    public struct Attachment: Hashable, Sendable {
        public var id: String
        public var instanceID: String
        public var deviceIndex: Int
        public var status: AttachmentStatus
        public var deleteOnTermination: Bool

        public init(id: String, instanceID: String, deviceIndex: Int, status: AttachmentStatus, deleteOnTermination: Bool) {
            self.id = id
            self.instanceID = instanceID
            self.deviceIndex = deviceIndex
            self.status = status
            self.deleteOnTermination = deleteOnTermination
        }
    }

    public var id: String
    public var status: NetworkInterfaceStatus
    public var attachment: Attachment?
    public var secondaryIPCount: Int
    public var prefixCount: Int

    public init(id: String, status: NetworkInterfaceStatus, attachment: Attachment?, secondaryIPCount: Int, prefixCount: Int = 0) {
        self.id = id
        self.status = status
        self.attachment = attachment
        self.secondaryIPCount = secondaryIPCount
        self.prefixCount = prefixCount
    }

    /// Address slots taken besides the primary address (a prefix takes one, as a single address does).
    public var slotsUsed: Int { secondaryIPCount + prefixCount }
    public var podAddresses: Int { secondaryIPCount + prefixCount * PodSizing.addressesPerPrefix }
}

/// Addresses to add to one ENI: /28 prefixes when the node uses them, and the single addresses
/// to ask for instead when it does not, or when EC2 has no free /28 left in the subnet.
public struct AddressRequest: Hashable, Sendable {
    public var prefixes: Int
    public var singles: Int

    public static func singles(_ count: Int) -> AddressRequest { AddressRequest(prefixes: 0, singles: count) }
    public static func prefixes(_ count: Int, orSingles singles: Int) -> AddressRequest { AddressRequest(prefixes: count, singles: singles) }

    /// Addresses it yields if EC2 grants what is asked first.
    public var expectedAddresses: Int { prefixes > 0 ? prefixes * PodSizing.addressesPerPrefix : singles }

    /// What `need` more addresses take on an ENI with `freeSlots` slots.
    static func forNeed(_ need: Int, freeSlots: Int, prefixes: Bool) -> AddressRequest {
        let singles = min(freeSlots, need)
        guard prefixes else { return .singles(singles) }
        let perPrefix = PodSizing.addressesPerPrefix
        return .prefixes(min(freeSlots, (need + perPrefix - 1) / perPrefix), orSingles: singles)
    }
}

/// One EC2 step towards a fully provisioned node.
public enum ProvisioningAction: Hashable, Sendable {
    /// Create an ENI with these addresses, attach it at this index, set DeleteOnTermination.
    case createAndAttach(deviceIndex: Int, AddressRequest)
    /// Attach one of ours that is `available` (a crash left it unattached), then set DeleteOnTermination.
    case attach(eniID: String, deviceIndex: Int)
    case setDeleteOnTermination(eniID: String, attachmentID: String)
    /// Assign the missing addresses to an ENI of ours that has fewer than its share.
    case assignAddresses(eniID: String, AddressRequest)
    /// An unattached ENI of ours that no device index needs.
    case delete(eniID: String)
    /// Give a profile's ENI the profile's groups (they changed since it was created).
    case setSecurityGroups(eniID: String, [String])
}

/// The pure decision at the heart of the controller: from EC2's current truth about one instance,
/// the steps that give it the addresses of its ``PodSizing/Target`` on ENIs of ours at the lowest
/// free device indexes, with DeleteOnTermination set. Applying the steps and planning again
/// converges; planning a converged instance yields nothing, so the loop is idempotent and any step
/// may be interrupted and repeated.
///
/// The target is counted in addresses, whatever holds them: an ENI that got single addresses
/// because the subnet had no free /28 (the fallback) counts what it holds, and the rest of the
/// target goes to the next ENI.
///
/// Nothing is ever taken away: an ENI of ours that is attached keeps its addresses, and counts
/// towards the target with all of them (a node provisioned under a larger target, by an older
/// controller that gave every node its type's maximum, or before prefix delegation was turned on
/// or off, keeps its allocation). An ENI short of its share is topped up before another is created.
public struct ProvisioningPlan: Hashable, Sendable {
    public var actions: [ProvisioningAction]
    /// ENIs in a transition EC2 must finish first (attaching without an attachment yet, detaching).
    public var waitingFor: [String]

    /// True when nothing remains to do or wait for: the record can be written.
    public var isComplete: Bool { actions.isEmpty && waitingFor.isEmpty }

    /// - Parameters:
    ///   - maxENIs: ENIs the node may have on its default network card (device index 0 included).
    ///   - target: the pod addresses the node's pod ENIs should carry in all, and slots per ENI at most.
    ///   - occupiedByOthers: device indexes taken by ENIs that are not ours (the primary's 0 among them).
    public static func make(instanceID: String, maxENIs: Int, target: PodSizing.Target, occupiedByOthers: Set<Int>,
                            owned: [OwnedENI]) -> ProvisioningPlan {
        var actions: [ProvisioningAction] = []
        var waiting: [String] = []
        var taken = occupiedByOthers
        var spare: [OwnedENI] = []
        var remaining = target.podAddresses
        let limit = target.slotsPerENILimit, prefixes = target.addressesPerSlot > 1
        let attached = owned.filter { $0.attachment?.instanceID == instanceID }
            .sorted { ($0.attachment!.deviceIndex, $0.id) < ($1.attachment!.deviceIndex, $1.id) }
        for eni in attached {
            let attachment = eni.attachment!
            taken.insert(attachment.deviceIndex)
            switch attachment.status {
            case .attaching, .attached:
                if !attachment.deleteOnTermination {
                    actions.append(.setDeleteOnTermination(eniID: eni.id, attachmentID: attachment.id))
                }
                var holds = eni.podAddresses
                if remaining > holds, eni.slotsUsed < limit {
                    let request = AddressRequest.forNeed(remaining - holds, freeSlots: limit - eni.slotsUsed, prefixes: prefixes)
                    actions.append(.assignAddresses(eniID: eni.id, request))
                    holds += request.expectedAddresses
                }
                remaining = max(0, remaining - holds)
            default:
                // Detaching: its index is busy until it is `available` again, then it is reused or deleted.
                waiting.append(eni.id)
            }
        }
        for eni in owned.sorted(by: { $0.id < $1.id }) where eni.attachment == nil {
            if eni.status == .available { spare.append(eni) } else { waiting.append(eni.id) }
            // Attached to another instance: tagged for this one but not ours to touch.
        }
        var free = (1..<max(1, maxENIs)).filter { !taken.contains($0) }.makeIterator()
        var reused = 0
        while remaining > 0, let deviceIndex = free.next() {
            let request = AddressRequest.forNeed(remaining, freeSlots: limit, prefixes: prefixes)
            if reused < spare.count {
                // Its addresses count once it is attached; the next pass tops it up.
                actions.append(.attach(eniID: spare[reused].id, deviceIndex: deviceIndex))
                remaining = max(0, remaining - max(request.expectedAddresses, spare[reused].podAddresses))
                reused += 1
            } else {
                actions.append(.createAndAttach(deviceIndex: deviceIndex, request))
                remaining = max(0, remaining - request.expectedAddresses)
            }
        }
        for eni in spare.dropFirst(reused) { actions.append(.delete(eniID: eni.id)) }
        return ProvisioningPlan(actions: actions, waitingFor: waiting)
    }
}
