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

    public init(id: String, status: NetworkInterfaceStatus, attachment: Attachment?, secondaryIPCount: Int) {
        self.id = id
        self.status = status
        self.attachment = attachment
        self.secondaryIPCount = secondaryIPCount
    }
}

/// One EC2 step towards a fully provisioned node.
public enum ProvisioningAction: Hashable, Sendable {
    /// Create an ENI with this many secondary addresses, attach it at this index, set DeleteOnTermination.
    case createAndAttach(deviceIndex: Int, secondaryAddresses: Int)
    /// Attach one of ours that is `available` (a crash left it unattached), then set DeleteOnTermination.
    case attach(eniID: String, deviceIndex: Int)
    case setDeleteOnTermination(eniID: String, attachmentID: String)
    /// Assign the missing secondary addresses to an ENI of ours that has fewer than its share.
    case assignAddresses(eniID: String, count: Int)
    /// An unattached ENI of ours that no device index needs.
    case delete(eniID: String)
}

/// The pure decision at the heart of the controller: from EC2's current truth about one instance,
/// the steps that give it the addresses of its ``PodSizing/Target`` on ENIs of ours at the lowest
/// free device indexes, with DeleteOnTermination set. Applying the steps and planning again
/// converges; planning a converged instance yields nothing, so the loop is idempotent and any step
/// may be interrupted and repeated.
///
/// Nothing is ever taken away: an ENI of ours that is attached keeps its addresses, and counts
/// towards the target with all of them (a node provisioned under a larger target, or by an older
/// controller that gave every node its type's maximum, keeps its allocation). An ENI short of its
/// share is topped up before another is created.
public struct ProvisioningPlan: Hashable, Sendable {
    public var actions: [ProvisioningAction]
    /// ENIs in a transition EC2 must finish first (attaching without an attachment yet, detaching).
    public var waitingFor: [String]

    /// True when nothing remains to do or wait for: the record can be written.
    public var isComplete: Bool { actions.isEmpty && waitingFor.isEmpty }

    /// - Parameters:
    ///   - maxENIs: ENIs the instance type takes on its default network card (device index 0 included).
    ///   - target: the secondary addresses the node's pod ENIs should carry in all, and per ENI at most.
    ///   - occupiedByOthers: device indexes taken by ENIs that are not ours (the primary's 0 among them).
    public static func make(instanceID: String, maxENIs: Int, target: PodSizing.Target, occupiedByOthers: Set<Int>,
                            owned: [OwnedENI]) -> ProvisioningPlan {
        var actions: [ProvisioningAction] = []
        var waiting: [String] = []
        var taken = occupiedByOthers
        var spare: [OwnedENI] = []
        var remaining = target.slotsPerENI.reduce(0, +)
        let limit = target.slotsPerENILimit
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
                let share = max(eni.secondaryIPCount, min(limit, remaining))
                if eni.secondaryIPCount < share {
                    actions.append(.assignAddresses(eniID: eni.id, count: share - eni.secondaryIPCount))
                }
                remaining = max(0, remaining - share)
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
            let share = min(limit, remaining)
            if reused < spare.count {
                // Its addresses count once it is attached; the next pass tops it up.
                actions.append(.attach(eniID: spare[reused].id, deviceIndex: deviceIndex))
                remaining = max(0, remaining - max(share, spare[reused].secondaryIPCount))
                reused += 1
            } else {
                actions.append(.createAndAttach(deviceIndex: deviceIndex, secondaryAddresses: share))
                remaining -= share
            }
        }
        for eni in spare.dropFirst(reused) { actions.append(.delete(eniID: eni.id)) }
        return ProvisioningPlan(actions: actions, waitingFor: waiting)
    }
}
