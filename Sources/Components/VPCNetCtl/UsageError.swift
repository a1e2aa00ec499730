import VPCNetCore

/// A bad argument to a vpcnetctl command: printed as is, nothing written.
public struct UsageError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
