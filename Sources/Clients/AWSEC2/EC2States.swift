/// An ENI's `status`, as EC2 reports it. A value EC2 may add later is kept as it came.
public struct NetworkInterfaceStatus: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }

    /// Not attached: it can be attached or deleted.
    public static let available: Self = "available"
    public static let attaching: Self = "attaching"
    public static let inUse: Self = "in-use"
    public static let detaching: Self = "detaching"

    public var description: String { rawValue }
}

/// The `status` of an ENI's attachment, as EC2 reports it.
public struct AttachmentStatus: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }

    public static let attaching: Self = "attaching"
    /// The device is (or is about to be) visible in the guest.
    public static let attached: Self = "attached"
    public static let detaching: Self = "detaching"
    public static let detached: Self = "detached"

    public var description: String { rawValue }
}
