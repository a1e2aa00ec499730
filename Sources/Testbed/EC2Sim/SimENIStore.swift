/// The simulator's ENIs, indexed by instance and attachment so that attach checks and
/// DescribeInstances stay fast with tens of thousands of ENIs. Every write goes through the
/// subscript, which keeps the indexes and the creation order in step.
struct SimENIStore: Sendable {
    private(set) var byID: [String: SimENI] = [:]
    /// Creation order, for stable Describe results and pagination.
    private(set) var order: [String] = []
    private var byInstance: [String: Set<String>] = [:]
    private var byAttachment: [String: String] = [:]

    subscript(id: String) -> SimENI? {
        get { byID[id] }
        set {
            let old = byID[id]
            if let attachment = old?.attachment {
                byInstance[attachment.instanceID]?.remove(id)
                if byInstance[attachment.instanceID]?.isEmpty == true { byInstance[attachment.instanceID] = nil }
                byAttachment[attachment.id] = nil
            }
            byID[id] = newValue
            if let attachment = newValue?.attachment {
                byInstance[attachment.instanceID, default: []].insert(id)
                byAttachment[attachment.id] = id
            }
            if old == nil, newValue != nil { order.append(id) }
            if old != nil, newValue == nil { order.removeAll { $0 == id } }
        }
    }

    var values: Dictionary<String, SimENI>.Values { byID.values }
    var count: Int { byID.count }
    var inOrder: [SimENI] { order.compactMap { byID[$0] } }

    /// The ENIs attached (or attaching, or detaching) to an instance, by card and device index.
    func attached(to instanceID: String) -> [SimENI] {
        (byInstance[instanceID] ?? []).compactMap { byID[$0] }.sorted {
            ($0.attachment!.networkCardIndex, $0.attachment!.deviceIndex) < ($1.attachment!.networkCardIndex, $1.attachment!.deviceIndex)
        }
    }

    func withAttachment(_ attachmentID: String) -> SimENI? { byAttachment[attachmentID].flatMap { byID[$0] } }
}
