import VPCNetCore

/// One usable address of the pool as an operator sees it.
public struct AddressState: Hashable, Codable, Sendable {
    public enum State: String, Codable, Sendable, CaseIterable {
        case allocated, free
        case coolingDown = "cooling_down"
    }

    public var address: IPv4Address
    public var eniID: NetworkInterfaceID
    public var state: State
    /// The holder, when allocated.
    public var attachment: AttachmentKey?
    /// When a cooling address becomes free, in milliseconds since the epoch.
    public var freeAt: Int64?

    public init(address: IPv4Address, eniID: NetworkInterfaceID, state: State, attachment: AttachmentKey? = nil, freeAt: Int64? = nil) {
        self.address = address
        self.eniID = eniID
        self.state = state
        self.attachment = attachment
        self.freeAt = freeAt
    }
}
