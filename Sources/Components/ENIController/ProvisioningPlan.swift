import AWSEC2
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
    /// Create an ENI with the maximum secondary addresses, attach it at this index, set DeleteOnTermination.
    case createAndAttach(deviceIndex: Int)
    /// Attach one of ours that is `available` (a crash left it unattached), then set DeleteOnTermination.
    case attach(eniID: String, deviceIndex: Int)
    case setDeleteOnTermination(eniID: String, attachmentID: String)
    /// Assign the missing secondary addresses to an ENI of ours that has fewer than the maximum.
    case assignAddresses(eniID: String, count: Int)
    /// An unattached ENI of ours that no device index needs.
    case delete(eniID: String)
}

/// The pure decision at the heart of the controller: from EC2's current truth about one instance,
/// the steps that bring it to "every device index 1 … max−1 holds an ENI of ours with the
/// maximum secondary addresses and DeleteOnTermination set". Applying the steps and planning
/// again converges; planning a converged instance yields nothing, so the loop is idempotent and
/// any step may be interrupted and repeated.
public struct ProvisioningPlan: Hashable, Sendable {
    public var actions: [ProvisioningAction]
    /// ENIs in a transition EC2 must finish first (attaching without an attachment yet, detaching).
    public var waitingFor: [String]

    /// True when nothing remains to do or wait for: the record can be written.
    public var isComplete: Bool { actions.isEmpty && waitingFor.isEmpty }

    /// - Parameters:
    ///   - maxENIs: ENIs the instance type takes on its default network card (device index 0 included).
    ///   - secondaryIPsPerENI: secondary addresses each ENI should carry (IPv4 per ENI − 1).
    ///   - occupiedByOthers: device indexes taken by ENIs that are not ours (the primary's 0 among them).
    public static func make(instanceID: String, maxENIs: Int, secondaryIPsPerENI: Int, occupiedByOthers: Set<Int>,
                            owned: [OwnedENI]) -> ProvisioningPlan {
        var actions: [ProvisioningAction] = []
        var waiting: [String] = []
        var taken = occupiedByOthers
        var spare: [OwnedENI] = []
        for eni in owned.sorted(by: { $0.id < $1.id }) {
            if let attachment = eni.attachment, attachment.instanceID == instanceID {
                switch attachment.status {
                case .attaching, .attached:
                    taken.insert(attachment.deviceIndex)
                    if !attachment.deleteOnTermination {
                        actions.append(.setDeleteOnTermination(eniID: eni.id, attachmentID: attachment.id))
                    }
                    if eni.secondaryIPCount < secondaryIPsPerENI {
                        actions.append(.assignAddresses(eniID: eni.id, count: secondaryIPsPerENI - eni.secondaryIPCount))
                    }
                default:
                    // Detaching: its index is busy until it is `available` again, then it is reused or deleted.
                    taken.insert(attachment.deviceIndex)
                    waiting.append(eni.id)
                }
            } else if eni.attachment == nil && eni.status == .available {
                spare.append(eni)
            } else if eni.attachment == nil {
                waiting.append(eni.id)
            }
            // Attached to another instance: tagged for this one but not ours to touch.
        }
        let free = (1..<max(1, maxENIs)).filter { !taken.contains($0) }
        for (index, deviceIndex) in free.enumerated() {
            if index < spare.count {
                actions.append(.attach(eniID: spare[index].id, deviceIndex: deviceIndex))
            } else {
                actions.append(.createAndAttach(deviceIndex: deviceIndex))
            }
        }
        for eni in spare.dropFirst(free.count) { actions.append(.delete(eniID: eni.id)) }
        return ProvisioningPlan(actions: actions, waitingFor: waiting)
    }
}
